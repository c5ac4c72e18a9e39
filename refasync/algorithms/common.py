"""What the four worker loops share: the shared state of the pseudocode, the
worker's context, and what a worker reports after each update.  The policies and
exploration are in ``policies.py``, the asynchronous update in ``update.py``.

Nothing here knows about processes: the same worker generator runs in a
worker process (runner.run_processes) or interleaved with others in one
process (runner.run_deterministic).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Shared:
    """Global state of the pseudocode, shared by all actor-learners.

    theta:        the parameters (theta and theta_v of Alg. 3 share one vector)
    theta_minus:  target parameters of the Q methods (None for A3C)
    opt_stat:     the optimizer statistic shared by all workers (shared RMSProp's g,
                  or m of the shared-momentum variant); unused by the per-thread
                  optimizers (RMSProp with per-thread g, the paper's momentum SGD)
    T:            the global step counter; ``T.increment()`` is atomic and
                  returns the new value, ``T.value`` reads it
    """
    theta: np.ndarray
    theta_minus: np.ndarray | None
    opt_stat: np.ndarray
    T: object


@dataclass
class WorkerContext:
    """Everything one actor-learner thread owns or sees.

    ``eps_final``: the worker's final epsilon when it is given (a resumed run),
    else drawn from ``rng`` first.  ``resume``: the loop-carried values of a
    worker stopped at an update boundary (``t``, ``s`` and for Sarsa ``a``, as
    its updates report them under ``carry``), or None for a fresh start."""
    worker_id: int
    cfg: object            # config.Config
    net: object            # nn.Network
    env: object            # envs.EpisodeEnv
    rng: np.random.Generator
    shared: Shared
    eps_final: float | None = None
    resume: dict | None = None
    thread_stat: np.ndarray | None = None    # per-thread optimizers' g_i or m_i (set by the update)

    def start(self, **fresh):
        """The loop-carried values a worker begins with, in the order given: ``fresh``
        for a new worker, or where this worker stopped when it is resumed."""
        return tuple(self.resume[k] if self.resume is not None else v for k, v in fresh.items())


def report(loss, grad_norm, T, a, r, target, carry, **extra):
    """What a worker yields after each update: the statistics the runner logs, the
    segment the golden traces record, and ``carry``, the loop state it continues from."""
    return {"loss": loss, "grad_norm": grad_norm, "T": T, "a": a, "r": r, "target": target,
            "carry": carry, **extra}

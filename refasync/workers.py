"""One actor-learner: its independent random streams, its environment and the
worker generator of its algorithm (``algorithms.WORKERS``), in whichever runner
(``runner.run_processes`` or ``runner.run_deterministic``) it runs."""
from __future__ import annotations

import numpy as np

from .algorithms import WORKERS
from .algorithms.common import WorkerContext
from .algorithms.policies import sample_final_epsilon
from .envs import EpisodeEnv, make_env
from .nn import build_network


def worker_seeds(seed, n, stream=()):
    """(rng, env seed) per worker, independent streams from one seed.  A run
    resumed for the k-th time with worker processes draws new streams from
    (seed, k), a restarted worker from (seed, k, restart number), so that
    neither replays the episodes the run began with."""
    root = np.random.SeedSequence([seed, *stream]) if stream else np.random.SeedSequence(seed)
    out = []
    for child in root.spawn(n):
        out.append((np.random.default_rng(child), int(child.generate_state(1)[0] % 2**31)))
    return out


def initial_epsilons(cfg):
    """Each worker's final epsilon as the worker itself draws it, first, from its
    own stream (ADDITION 8); NaN for A3C.  Saved in checkpoints for resuming."""
    if cfg.head != "q":
        return np.full(cfg.workers, np.nan)
    return np.array([sample_final_epsilon(rng, cfg.eps_finals, cfg.eps_probs)
                     for rng, _ in worker_seeds(cfg.seed, cfg.workers)])


def make_worker(worker_id, cfg, spec, shared, on_episode, eps_final=None, stream=()):
    """The worker generator of cfg.algo for one actor-learner, and its context."""
    obs_shape, n_actions, _ = spec
    rng, env_seed = worker_seeds(cfg.seed, cfg.workers, tuple(stream))[worker_id]
    net = build_network(cfg, obs_shape, n_actions)
    env = EpisodeEnv(make_env(cfg.env), env_seed, cfg.clip_rewards, on_episode, cfg.life_loss_terminal,
                     cfg.reward_scale, normalized_actions=getattr(net, "bounded_mean", False))
    ctx = WorkerContext(worker_id, cfg, net, env, rng, shared,
                        eps_final=None if eps_final is None or np.isnan(eps_final) else float(eps_final))
    return WORKERS[cfg.algo](ctx), ctx

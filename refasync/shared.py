"""Shared memory for theta, theta-minus, optimizer statistics and the counter T.

The arrays are ``multiprocessing.RawArray`` objects: they live in an arena
file that is unlinked as soon as it is created, so no exit path (normal,
Ctrl-C, SIGKILL of a worker or of the whole group) can leave anything behind
in /dev/shm.  They are handed to spawned workers as Process arguments and
viewed as NumPy arrays without copying.  Nothing locks theta (Hogwild); T's
increments are atomic, so that every value of T is seen by exactly one
worker.  T is incremented with an atomic instruction (``atomic.fetch_add``),
not a lock: no named semaphore is created, so nothing can leak, and a killed
worker cannot leave a lock held.
"""
from __future__ import annotations

import numpy as np

from .algorithms.common import Shared
from .atomic import fetch_add

_TYPECODES = {np.dtype(np.float32): "f", np.dtype(np.float64): "d"}


class SharedCounter:
    """The global step counter T in shared memory; increment is atomic."""

    def __init__(self, raw):
        self._raw = raw
        self._cell = np.frombuffer(raw, dtype=np.int64)

    def increment(self):
        """T <- T + 1; returns the new T (fetch-and-add)."""
        return int(fetch_add(self._cell, 0, 1))

    @property
    def value(self):
        return int(self._cell[0])      # an aligned 8-byte read

    def restore(self, T):
        """Set T before any worker starts (resuming a run)."""
        self._cell[0] = T

    def __reduce__(self):
        return (SharedCounter, (self._raw,))


class LocalCounter:
    """T for workers interleaved in one process (deterministic mode)."""

    def __init__(self, value=0):
        self.value = value

    def increment(self):
        self.value += 1
        return self.value

    def restore(self, T):
        self.value = T


class SharedBlock:
    """The raw shared objects; picklable to spawned workers, viewed with ``views()``."""

    def __init__(self, mp_context, n_params, dtype, with_target):
        dtype = np.dtype(dtype)
        code = _TYPECODES[dtype]
        self.dtype = dtype.name
        self.theta = mp_context.RawArray(code, n_params)
        self.theta_minus = mp_context.RawArray(code, n_params) if with_target else None
        self.opt_stat = mp_context.RawArray(code, n_params)
        self.counter = SharedCounter(mp_context.RawArray("q", 1))
        self.stop = mp_context.RawValue("i", 0)     # the stop event, set by the parent

    def views(self):
        def view(raw):
            return None if raw is None else np.frombuffer(raw, dtype=self.dtype)
        return Shared(view(self.theta), view(self.theta_minus), view(self.opt_stat), self.counter)


def local_shared(n_params, dtype, with_target):
    """The same Shared state in ordinary arrays, for one process."""
    z = lambda: np.zeros(n_params, dtype=dtype)  # noqa: E731
    return Shared(z(), z() if with_target else None, z(), LocalCounter())

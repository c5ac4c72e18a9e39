"""Every error refasync raises on purpose, in one place (no module imports another for its errors).

Bad input is reported as one line and exit code 2 (``ConfigError``, ``PlotError``); a failure
during a run as one line, its traceback where it has one, and exit code 1."""
from __future__ import annotations


class ConfigError(ValueError):
    """Bad user input: reported as one line, exit code 2."""


class PlotError(ValueError):
    """Bad input to the plotting tools: reported as one line, exit code 2."""


class NonFiniteError(FloatingPointError):
    """A gradient or parameter became NaN or Inf."""


class WorkerFailed(RuntimeError):
    """A worker raised, was killed, or met a NaN/Inf (``non_finite``: never restarted)."""

    def __init__(self, worker_id, message, non_finite=False):
        super().__init__(message)
        self.worker_id = worker_id
        self.non_finite = non_finite


class RunFolderError(RuntimeError):
    """The run folder could not be written (deleted, disk full, no permission)."""

    @classmethod
    def of(cls, out_dir, e):
        return cls(f"cannot write the run folder {out_dir}: {e.strerror or e}")

"""Running the workers so that every way out of a run leaves it saved.

Exit statuses: 0 done, 1 a worker failed, the parameters went non-finite or the
run folder could not be written, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM).  On each of them the logs are flushed and the checkpoint written,
except after NaN/Inf, where the last periodic checkpoint is kept."""
from __future__ import annotations

import os
import signal

from .checkpoint import load_checkpoint
from .errors import NonFiniteError, RunFolderError, WorkerFailed
from .runner import run_deterministic, run_processes


class Terminated(BaseException):
    """Raised in the parent on SIGTERM, handled like Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


def run_and_save(cfg, spec, theta0, recorder, restored=None):
    """Run the workers (deterministic or as processes) to the end or to the first
    stop, then save.  Returns (status, message or None, shared state or None)."""
    checkpoint = os.path.join(cfg.out, "checkpoint.npz")
    old_term = signal.signal(signal.SIGTERM, _raise_terminated)
    status, message, shared, non_finite = 0, None, None, False
    try:
        run = run_deterministic if cfg.deterministic else run_processes
        shared = run(cfg, spec, theta0, recorder, restored)
    except KeyboardInterrupt:
        status, message = 130, "interrupted"
    except Terminated:
        status, message = 143, "terminated (SIGTERM)"
    except (WorkerFailed, NonFiniteError, RunFolderError) as e:
        status, message = 1, str(e)
        non_finite = isinstance(e, NonFiniteError) or getattr(e, "non_finite", False)
    finally:
        signal.signal(signal.SIGTERM, old_term)
        if recorder.shared is not None:
            shared = recorder.shared
            try:
                try:
                    recorder.tick()
                    # after NaN/Inf the parameters are not trusted: keep the last periodic checkpoint
                    if not non_finite:
                        recorder.checkpoint()      # the logs on disk first, as every periodic checkpoint
                except NonFiniteError as e:
                    status, message, non_finite = 1, message or str(e), True
                if non_finite:
                    status = 1
                    kept = (f"checkpoint.npz keeps T={int(load_checkpoint(checkpoint)['T']):,}"
                            if os.path.exists(checkpoint) else "no checkpoint had been saved yet")
                    message = f"{message}; {kept}"
            except (OSError, RunFolderError) as e:
                e = e if isinstance(e, RunFolderError) else RunFolderError.of(cfg.out, e)
                if not (message or "").startswith("cannot write"):
                    message = f"{message}; {e}" if message else str(e)
                status = 1
        recorder.close()
    return status, message, shared

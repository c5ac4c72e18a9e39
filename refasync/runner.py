"""Starting, watching and stopping the actor-learners.

Two ways to run the same worker generators (``algorithms.WORKERS``):

* ``run_processes``: one spawned process per worker, Hogwild on shared
  memory.  Each worker ignores SIGINT and stops when the parent sets the stop
  event; it talks to the parent through its own one-way pipe (a killed worker
  can only break its own pipe).  The parent waits on the pipes and on the
  process sentinels together, so a dead worker is noticed at once.
* ``run_deterministic``: the N generators interleaved round-robin in this
  process, one asynchronous update at a time: bitwise reproducible.

Both report to a ``recorder`` (``logs.RunRecorder``) with the same events.
"""
from __future__ import annotations

import contextlib
import multiprocessing as mp
import multiprocessing.connection
import os
import resource
import signal
import time
import traceback


from .errors import NonFiniteError, WorkerFailed
from .logs import UpdateStats
from .shared import SharedBlock, local_shared
from .workers import initial_epsilons, make_worker

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
STATS_INTERVAL = 0.5      # seconds between a worker's statistics messages
JOIN_TIMEOUT = 5.0        # seconds a worker gets to stop before it is terminated


# ---------------------------------------------------------------- one process
def deterministic_shared(cfg, theta0, restored=None):
    """The Shared state of a one-process run, theta^- <- theta (DEVIATION 3: once),
    or the checkpoint's when resuming."""
    shared = local_shared(theta0.shape[0], theta0.dtype, with_target=cfg.head == "q")
    restore_shared(shared, theta0, restored)
    return shared


def restore_shared(shared, theta0, restored):
    """Fill a fresh Shared state: theta0 (and theta^- = theta0), or a checkpoint's arrays and T."""
    if restored is None:
        shared.theta[:] = theta0
        if shared.theta_minus is not None:
            shared.theta_minus[:] = theta0                  # DEVIATION 3: theta^- <- theta once
        return
    shared.theta[:] = restored["theta"]
    shared.opt_stat[:] = restored["opt_stat"]
    if shared.theta_minus is not None:
        shared.theta_minus[:] = restored["theta_minus"]
    shared.T.restore(int(restored["T"]))


class Interleave:
    """cfg.workers worker generators run round-robin in this process, one
    asynchronous update at a time: iterating yields (worker, update) until every
    worker has finished.  ``on_episode(worker, score, length)``; ``watch_env(worker,
    env)``, if given, sees each worker's environment before the worker starts (the
    golden traces record the segments through it).

    Between two updates, ``snapshot()`` is everything needed to continue exactly
    there: each worker's random stream, environment, loop-carried values and
    per-thread optimizer statistic, and whose turn is next; ``restored`` is such
    a snapshot to continue from."""

    def __init__(self, cfg, spec, shared, on_episode, watch_env=None, restored=None, eps_finals=None, stream=()):
        self.gens, self.ctxs, self.carry = [], [], [None] * cfg.workers
        self.next = restored["next"] if restored else 0
        eps = initial_epsilons(cfg) if eps_finals is None else eps_finals
        try:
            for i in range(cfg.workers):
                w = restored["workers"][i] if restored else None
                started = (w is not None and w["carry"] is not None) or bool(stream)   # keeps its epsilon
                gen, ctx = make_worker(i, cfg, spec, shared,
                                       lambda score, length, i=i: on_episode(i, score, length),
                                       eps_final=eps[i] if started else None, stream=stream)
                if w is not None:
                    ctx.rng.bit_generator.state = w["rng"]
                    ctx.env.restore(w["env"])
                    ctx.thread_stat = w["thread_stat"]
                    ctx.resume = w["carry"]
                    self.carry[i] = w["carry"]
                if watch_env is not None:
                    watch_env(i, ctx.env)
                self.gens.append(gen)
                self.ctxs.append(ctx)
        except BaseException:
            self.close()
            raise

    def __iter__(self):
        live = list(range(len(self.gens)))
        while live:
            i = self.next
            self.next = (i + 1) % len(self.gens)
            if i not in live:
                continue
            try:
                y = next(self.gens[i])
            except StopIteration:
                live.remove(i)
                continue
            except NonFiniteError as e:
                raise WorkerFailed(i, str(e), non_finite=True) from None
            self.carry[i] = y.get("carry")
            yield i, y

    def snapshot(self):
        """The exact state, or None if an environment cannot give its own."""
        envs = [ctx.env.state() for ctx in self.ctxs]
        if any(e is None for e in envs):
            return None
        return {"next": self.next, "workers": [
            {"rng": ctx.rng.bit_generator.state, "env": env, "carry": carry,
             "thread_stat": None if ctx.thread_stat is None else ctx.thread_stat.copy()}
            for ctx, carry, env in zip(self.ctxs, self.carry, envs)]}

    def close(self):
        for ctx in self.ctxs:
            ctx.env.close()


def interleave(cfg, spec, shared, on_episode, watch_env=None):
    """Iterate an ``Interleave`` and close its environments at the end."""
    it = Interleave(cfg, spec, shared, on_episode, watch_env)
    try:
        yield from it
    finally:
        it.close()


def run_deterministic(cfg, spec, theta0, recorder, restored=None):
    """Run cfg.workers generators round-robin; returns the final Shared state.

    SIGINT and SIGTERM are held until the update in progress is done, so that
    a stopped run is always saved at an update boundary (and resumes exactly)."""
    shared = deterministic_shared(cfg, theta0, restored)
    recorder.attach(shared)
    recorder.worker_started(0)
    restored_snapshot = None if restored is None else restored.get("snapshot")
    # until the first update the exact state is the one being resumed (a stop while the
    # workers are built must not lose it)
    recorder.snapshot = (lambda: restored_snapshot) if restored_snapshot is not None else None
    recorder.eps_finals = eps = initial_epsilons(cfg)     # saved with every checkpoint
    # resumed without an exact snapshot (the last stop was a failure): new streams, as process mode draws
    stream = (int(restored["resumes"]) + 1,) if restored is not None and restored_snapshot is None else ()
    it = Interleave(cfg, spec, shared, lambda i, score, length: recorder.episode(shared.T.value, i, score, length),
                    restored=restored_snapshot, eps_finals=eps, stream=stream)
    recorder.snapshot = it.snapshot
    pending, clean, updates = [], False, 0
    handlers = {sig: signal.signal(sig, lambda signum, frame: pending.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    stats = UpdateStats()
    try:
        for _, y in it:
            updates += 1
            stats.add(y)
            if recorder.due():
                recorder.stats(stats.message())
                stats.reset()
                recorder.tick()
            if pending:
                break
        recorder.stats(stats.message())
        clean = True
    finally:
        for sig, h in handlers.items():
            signal.signal(sig, h)
        # a failure inside a worker leaves it between two updates: nothing exact to save
        if clean:
            final = it.snapshot()
            recorder.snapshot = lambda: final
        elif updates == 0 and restored_snapshot is not None:
            recorder.snapshot = lambda: restored_snapshot    # nothing happened since the resume
        else:
            recorder.snapshot = None
        it.close()
    if pending:
        signal.raise_signal(pending[0])     # the caller's handler, now at an update boundary
    return shared


# ----------------------------------------------------------- worker processes
def _worker_main(worker_id, cfg, spec, block, conn, eps_final=None, stream=()):
    """Entry point of a worker process; ``stream`` keys its random streams
    (() for a run's first start, (resumes,) after a resume, (resumes, k) for the
    k-th restart of a worker)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # the parent decides when to stop
    try:
        shared = block.views()

        def on_episode(score, length):
            conn.send(("episode", worker_id, shared.T.value, score, length))

        gen, ctx = make_worker(worker_id, cfg, spec, shared, on_episode, eps_final, stream)
        env = ctx.env
        stats, last = UpdateStats(), time.monotonic()
        parent = os.getppid()
        conn.send(("started", worker_id))
        for y in gen:
            stats.add(y)
            now = time.monotonic()
            if now - last >= STATS_INTERVAL:
                conn.send(("stats", worker_id, stats.message()))
                stats.reset()
                last = now
                if os.getppid() != parent:      # the parent died (e.g. SIGKILL): stop too
                    break
            if block.stop.value:
                break
        conn.send(("stats", worker_id, stats.message()))
        env.close()
        peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # Linux: KiB
        conn.send(("done", worker_id, peak_rss_mb))
    except NonFiniteError as e:
        conn.send(("nonfinite", worker_id, str(e)))
        os._exit(1)
    except BaseException:
        conn.send(("error", worker_id, traceback.format_exc()))
        os._exit(1)


def run_processes(cfg, spec, theta0, recorder, restored=None):
    """Run cfg.workers worker processes on shared memory until T > T_max, a
    failure or an interrupt (KeyboardInterrupt is re-raised after the workers
    have stopped).  Returns the final Shared state (views into shared memory).
    ``restored``: a checkpoint to continue from (theta, theta^-, g, T, each
    worker's final epsilon); the workers begin new episodes.  A worker that
    dies is replaced, up to ``cfg.restart_workers`` times in the run, by a fresh
    one with the same id and epsilon and a new environment; a NaN/Inf is never
    restarted."""
    ctx = mp.get_context("spawn")
    block = SharedBlock(ctx, theta0.shape[0], theta0.dtype, with_target=cfg.head == "q")
    shared = block.views()
    restore_shared(shared, theta0, restored)
    eps = restored["eps_finals"] if restored is not None else initial_epsilons(cfg)
    resumes = int(restored["resumes"]) + 1 if restored is not None else 0    # this start's resume count
    recorder.eps_finals = eps                        # saved with every checkpoint
    recorder.attach(shared)
    procs, conns = [None] * cfg.workers, [None] * cfg.workers
    done, restarts = set(), 0
    try:
        for i in range(cfg.workers):
            procs[i], conns[i] = _spawn(ctx, i, cfg, spec, block, float(eps[i]), (resumes,) if resumes else ())
        by_sentinel = {p.sentinel: i for i, p in enumerate(procs)}
        open_conns = {c: i for i, c in enumerate(conns)}
        while len(done) < len(procs):
            ready = mp.connection.wait(list(open_conns) + list(by_sentinel), timeout=0.2)
            try:
                for r in ready:
                    if r in open_conns:
                        try:
                            while r.poll():
                                _dispatch(r.recv(), recorder, done)
                        except (EOFError, OSError):
                            del open_conns[r]
                for r in ready:
                    if r in by_sentinel:
                        i = by_sentinel.pop(r)
                        procs[i].join()
                        if i not in done:
                            code = procs[i].exitcode
                            how = (f"was killed by signal {signal.Signals(-code).name}" if code < 0
                                   else f"exited with code {code}")
                            raise WorkerFailed(i, f"worker {i} {how} at T={shared.T.value}")
            except WorkerFailed as e:
                if e.non_finite or restarts >= cfg.restart_workers:
                    raise
                restarts += 1                       # replace the worker: same id and epsilon
                i = e.worker_id
                recorder.worker_restarted(i, shared.T.value, str(e), restarts, cfg.restart_workers)
                _retire(procs[i], conns[i])
                by_sentinel = {k: v for k, v in by_sentinel.items() if v != i}
                open_conns = {k: v for k, v in open_conns.items() if v != i}
                procs[i], conns[i] = _spawn(ctx, i, cfg, spec, block, float(eps[i]), (resumes, restarts))
                by_sentinel[procs[i].sentinel] = i
                open_conns[conns[i]] = i
            if recorder.due():
                recorder.tick()
    finally:
        block.stop.value = 1
        started = [k for k, p in enumerate(procs) if p is not None]
        _stop_all([procs[k] for k in started], [conns[k] for k in started], recorder, done)
    return shared


@contextlib.contextmanager
def starting_children():
    """Around starting spawned processes (workers, evaluation players).

    Ctrl-C while they start: spawned children inherit an IGNORED SIGINT through
    exec, so they ignore it from their first instruction, even while still
    importing.  In the parent SIGINT is also BLOCKED meanwhile: a blocked signal
    stays pending even when ignored, so a press is not lost but delivered to the
    parent once its handler is back.  Each child runs with one thread per
    numerical library."""
    saved_env = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    saved_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, saved_sigint)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _spawn(ctx, i, cfg, spec, block, eps_final, stream):
    """Start worker process i; returns (process, the parent's end of its pipe)."""
    with starting_children():
        recv, send = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker_main, args=(i, cfg, spec, block, send, eps_final, stream),
                        name=f"refasync-worker-{i}", daemon=True)
        p.start()
        send.close()
        return p, recv


def _retire(proc, conn):
    """Make sure a failed worker is gone before its replacement starts."""
    if proc.is_alive():
        proc.kill()
    proc.join(5.0)
    conn.close()


def _dispatch(msg, recorder, done):
    kind, worker_id = msg[0], msg[1]
    if kind == "episode":
        recorder.episode(msg[2], worker_id, msg[3], msg[4])
    elif kind == "stats":
        recorder.stats(msg[2])
    elif kind == "started":
        recorder.worker_started(worker_id)
    elif kind == "done":
        recorder.worker_done(worker_id, msg[2])
        done.add(worker_id)
    elif kind == "error":
        raise WorkerFailed(worker_id, f"worker {worker_id} failed:\n{msg[2]}".rstrip())
    elif kind == "nonfinite":
        raise WorkerFailed(worker_id, msg[2], non_finite=True)


def _stop_all(procs, conns, recorder, done):
    """Wait for workers to see the stop event, draining their pipes; then
    terminate (and at last kill) any that do not stop in time."""
    deadline = time.monotonic() + JOIN_TIMEOUT
    for p, c in zip(procs, conns):
        while p.is_alive() and time.monotonic() < deadline:
            try:
                while c.poll(0.05):
                    msg = c.recv()
                    if msg[0] in ("episode", "stats", "done"):
                        _dispatch(msg, recorder, done)
            except (EOFError, OSError):
                p.join(0.05)
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(1.0)
        if p.is_alive():
            p.kill()
            p.join(1.0)
    for c in conns:                 # what workers sent before they exited
        try:
            while c.poll():
                msg = c.recv()
                if msg[0] in ("episode", "stats", "done"):
                    _dispatch(msg, recorder, done)
        except (EOFError, OSError):
            pass
        c.close()

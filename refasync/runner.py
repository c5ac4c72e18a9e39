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

import multiprocessing as mp
import multiprocessing.connection
import os
import resource
import signal
import time
import traceback

import numpy as np

from .algorithms import WORKERS
from .algorithms.common import NonFiniteError, WorkerContext
from .envs import EpisodeEnv, make_env
from .logs import UpdateStats
from .nn import atari_network, mlp
from .shared import SharedBlock, local_shared

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")
STATS_INTERVAL = 0.5      # seconds between a worker's statistics messages
JOIN_TIMEOUT = 5.0        # seconds a worker gets to stop before it is terminated


class WorkerFailed(RuntimeError):
    def __init__(self, worker_id, message):
        super().__init__(message)
        self.worker_id = worker_id


def build_network(cfg, obs_shape, n_actions):
    if cfg.network == "atari":
        return atari_network(n_actions, cfg.head, frames=obs_shape[0], size=obs_shape[1])
    return mlp(int(np.prod(obs_shape)), n_actions, cfg.head, hidden=cfg.hidden)


def worker_seeds(seed, n):
    """(rng, env seed) per worker, independent streams from one seed."""
    out = []
    for child in np.random.SeedSequence(seed).spawn(n):
        out.append((np.random.default_rng(child), int(child.generate_state(1)[0] % 2**31)))
    return out


def make_worker(worker_id, cfg, spec, shared, on_episode):
    """The worker generator of cfg.algo for one actor-learner, and its env."""
    obs_shape, n_actions, _ = spec
    rng, env_seed = worker_seeds(cfg.seed, cfg.workers)[worker_id]
    env = EpisodeEnv(make_env(cfg.env), env_seed, cfg.clip_rewards, on_episode, cfg.life_loss_terminal)
    ctx = WorkerContext(worker_id, cfg, build_network(cfg, obs_shape, n_actions), env, rng, shared)
    return WORKERS[cfg.algo](ctx), env


# ---------------------------------------------------------------- one process
def deterministic_shared(cfg, theta0):
    """The Shared state of a one-process run, theta^- <- theta (DEVIATION 3: once)."""
    shared = local_shared(theta0.shape[0], theta0.dtype, with_target=cfg.head == "q")
    shared.theta[:] = theta0
    if shared.theta_minus is not None:
        shared.theta_minus[:] = theta0
    return shared


def interleave(cfg, spec, shared, on_episode, watch_env=None):
    """Yield (worker, update) for every asynchronous update of cfg.workers worker
    generators run round-robin in this process, one update at a time, until
    every worker has finished.  ``on_episode(worker, score, length)``;
    ``watch_env(worker, env)``, if given, sees each worker's environment before
    the worker starts (the golden traces record the segments through it)."""
    workers, envs = [], []
    try:
        for i in range(cfg.workers):
            gen, env = make_worker(i, cfg, spec, shared,
                                   lambda score, length, i=i: on_episode(i, score, length))
            if watch_env is not None:
                watch_env(i, env)
            workers.append(gen)
            envs.append(env)
        live = list(range(cfg.workers))
        while live:
            for i in list(live):
                try:
                    y = next(workers[i])
                except StopIteration:
                    live.remove(i)
                    continue
                except NonFiniteError as e:
                    raise WorkerFailed(i, str(e)) from None
                yield i, y
    finally:
        for env in envs:
            env.close()


def run_deterministic(cfg, spec, theta0, recorder):
    """Run cfg.workers generators round-robin; returns the final Shared state."""
    shared = deterministic_shared(cfg, theta0)
    recorder.attach(shared)
    recorder.worker_started(0)
    stats = UpdateStats()
    for _, y in interleave(cfg, spec, shared,
                           lambda i, score, length: recorder.episode(shared.T.value, i, score, length)):
        stats.add(y)
        if recorder.due():
            recorder.stats(stats.message())
            stats.reset()
            recorder.tick()
    recorder.stats(stats.message())
    return shared


# ----------------------------------------------------------- worker processes
def _worker_main(worker_id, cfg, spec, block, conn):
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # the parent decides when to stop
    try:
        shared = block.views()

        def on_episode(score, length):
            conn.send(("episode", worker_id, shared.T.value, score, length))

        gen, env = make_worker(worker_id, cfg, spec, shared, on_episode)
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
        conn.send(("error", worker_id, str(e)))
        os._exit(1)
    except BaseException:
        conn.send(("error", worker_id, traceback.format_exc()))
        os._exit(1)


def run_processes(cfg, spec, theta0, recorder):
    """Run cfg.workers worker processes on shared memory until T > T_max, a
    failure or an interrupt (KeyboardInterrupt is re-raised after the workers
    have stopped).  Returns the final Shared state (views into shared memory)."""
    ctx = mp.get_context("spawn")
    block = SharedBlock(ctx, theta0.shape[0], theta0.dtype, with_target=cfg.head == "q")
    shared = block.views()
    shared.theta[:] = theta0
    if shared.theta_minus is not None:
        shared.theta_minus[:] = theta0                      # DEVIATION 3: theta^- <- theta once
    recorder.attach(shared)

    saved_env = {k: os.environ.get(k) for k in THREAD_VARS}
    os.environ.update({k: "1" for k in THREAD_VARS})        # one thread per worker
    # Ctrl-C while workers start.  Spawned children inherit an IGNORED SIGINT
    # through exec, so they ignore it from their first instruction, even while
    # still importing.  In the parent SIGINT is also BLOCKED meanwhile: a blocked
    # signal stays pending even when ignored, so a press is not lost but
    # delivered to the parent once its handler is back.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    saved_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    procs, conns = [], []
    try:
        for i in range(cfg.workers):
            recv, send = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker_main, args=(i, cfg, spec, block, send),
                            name=f"refasync-worker-{i}", daemon=True)
            p.start()
            send.close()
            procs.append(p)
            conns.append(recv)
    finally:
        signal.signal(signal.SIGINT, saved_sigint)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

    done = set()
    try:
        by_sentinel = {p.sentinel: i for i, p in enumerate(procs)}
        open_conns = {c: i for i, c in enumerate(conns)}
        while len(done) < len(procs):
            ready = mp.connection.wait(list(open_conns) + list(by_sentinel), timeout=0.2)
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
            if recorder.due():
                recorder.tick()
    finally:
        block.stop.value = 1
        _stop_all(procs, conns, recorder, done)
    return shared


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

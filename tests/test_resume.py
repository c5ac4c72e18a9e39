"""python -m refasync.train --resume RUN_DIR, as a user runs it: after SIGTERM, after
SIGKILL of the whole process group, after a finished run; exact in --deterministic
mode; refusals leave the folder untouched."""
import csv
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "refasync.train", "--no-progress", "--eval-episodes", "0",
                           *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def start(*args):
    return subprocess.Popen([sys.executable, "-m", "refasync.train", "--no-progress", "--eval-episodes", "0",
                             *args], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)


def wait_for_T(run_dir, T, timeout=120):
    """Wait until progress.csv shows at least T."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            with open(os.path.join(run_dir, "progress.csv")) as f:
                rows = [r for r in csv.reader(f)][1:]
            if rows and len(rows[-1]) > 1 and int(rows[-1][1]) >= T and os.path.exists(
                    os.path.join(run_dir, "checkpoint.npz")):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{run_dir} did not reach T={T}")


def episodes(run_dir):
    with open(os.path.join(run_dir, "episodes.csv")) as f:
        return [r[:5] for r in csv.reader(f)]             # all but wall_s


def folder_digest(run_dir):
    return {name: hashlib.sha256(open(os.path.join(run_dir, name), "rb").read()).hexdigest()
            for name in sorted(os.listdir(run_dir))}


def stop_resume_and_compare(tmp_path, common, stop_at, steps):
    """Run ``common`` whole, and again stopped with SIGTERM after T = stop_at and resumed:
    the two must end bitwise equal (parameters, optimizer statistics, episode log)."""
    whole, part = str(tmp_path / "whole"), str(tmp_path / "part")
    r = train(*common, "--out", whole)
    assert r.returncode == 0, r.stderr
    p = start(*common, "--out", part)
    wait_for_T(part, stop_at)
    p.send_signal(signal.SIGTERM)
    assert p.wait(60) == 143
    assert stop_at <= int(np.load(os.path.join(part, "checkpoint.npz"))["T"]) < steps
    r = train("--resume", part)
    assert r.returncode == 0 and "exactly" in r.stdout, r.stderr
    a, b = np.load(os.path.join(whole, "checkpoint.npz")), np.load(os.path.join(part, "checkpoint.npz"))
    np.testing.assert_array_equal(a["theta"], b["theta"])
    np.testing.assert_array_equal(a["opt_stat"], b["opt_stat"])
    assert int(a["T"]) == int(b["T"]) and int(b["resumes"]) == 1
    assert episodes(whole) == episodes(part)
    summary = json.load(open(os.path.join(part, "summary.json")))
    assert summary["resumes"] == 1 and summary["status"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["sarsa", "a3c"])
def test_deterministic_stop_and_resume_is_bitwise_the_uninterrupted_run(tmp_path, algo):
    stop_resume_and_compare(tmp_path, ["--algo", algo, "--steps", "60000", "--workers", "2", "--deterministic",
                                       "--seed", "5", "--checkpoint-every", "0.2"], 15000, 60000)


@pytest.mark.slow
def test_deterministic_resume_is_exact_on_atari_too(tmp_path):
    """The ALE's own state (with its random state), the frame stack and the no-op stream."""
    stop_resume_and_compare(tmp_path, ["--algo", "a3c", "--env", "ALE/Pong-v5", "--steps", "4000", "--workers", "2",
                                       "--deterministic", "--checkpoint-every", "0.3"], 1500, 4000)


@pytest.mark.slow
def test_a_run_killed_with_its_whole_process_group_resumes_to_the_end(tmp_path):
    run_dir = str(tmp_path / "run")
    before_shm = set(os.listdir("/dev/shm"))
    p = start("--algo", "a3c", "--steps", "300000", "--workers", "2", "--out", run_dir, "--checkpoint-every", "0.3")
    wait_for_T(run_dir, 20000)
    time.sleep(0.5)
    os.killpg(p.pid, signal.SIGKILL)            # nothing runs at exit: as a power loss
    p.wait(30)
    assert not os.path.exists(os.path.join(run_dir, "summary.json"))
    ckpt_T = int(np.load(os.path.join(run_dir, "checkpoint.npz"))["T"])
    r = train("--resume", run_dir)
    assert r.returncode == 0, r.stderr
    assert f"resuming at T={ckpt_T:,}" in r.stdout and "new episodes" in r.stdout
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    assert summary["status"] == 0 and summary["T"] == 300000 and summary["resumes"] == 1
    rows = episodes(run_dir)[1:]
    Ts = [int(row[0]) for row in rows]
    # the rows up to the checkpoint are kept, the resumed run's appended after them
    # (two workers' episodes arrive in any order, so T is only nearly sorted)
    first_new = next(i for i, T in enumerate(Ts) if T > ckpt_T)
    assert first_new > 0 and all(T <= ckpt_T for T in Ts[:first_new]) and max(Ts) > 290000
    with open(os.path.join(run_dir, "progress.csv")) as f:
        progress = list(csv.DictReader(f))
    assert {row["resumes"] for row in progress} == {"0", "1"}
    assert set(os.listdir("/dev/shm")) <= before_shm


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    run_dir = str(tmp_path_factory.mktemp("resume") / "done")
    r = train("--algo", "nq", "--steps", "3000", "--workers", "1", "--out", run_dir)
    assert r.returncode == 0, r.stderr
    return run_dir


def copy_of(run_dir, tmp_path):
    dst = str(tmp_path / "copy")
    shutil.copytree(run_dir, dst)
    return dst


@pytest.mark.parametrize("args,message", [
    (["--lr", "0.1"], "not --lr"),
    (["--workers", "4", "--steps", "9000"], "not --workers"),
    ([], "give a larger --steps"),
    (["--steps", "2000"], "does not extend"),
])
@pytest.mark.slow
def test_resume_refuses_changed_settings_with_one_line(finished_run, tmp_path, args, message):
    run_dir = copy_of(finished_run, tmp_path)
    before = folder_digest(run_dir)
    r = train("--resume", run_dir, *args)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
    assert folder_digest(run_dir) == before


@pytest.mark.slow
def test_resume_refuses_bad_checkpoints_and_changes_nothing(finished_run, tmp_path):
    cases = {}
    corrupt = copy_of(finished_run, tmp_path / "a")
    path = os.path.join(corrupt, "checkpoint.npz")
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    cases[corrupt] = "corrupt"
    other = copy_of(finished_run, tmp_path / "b")
    z = dict(np.load(os.path.join(other, "checkpoint.npz")))
    for k in ("theta", "opt_stat", "theta_minus"):
        z[k] = np.zeros(z[k].size + 10, z[k].dtype)           # another network's parameters
    np.savez(os.path.join(other, "checkpoint.npz"), **z)
    cases[other] = "another network"
    old = copy_of(finished_run, tmp_path / "c")
    z = dict(np.load(os.path.join(old, "checkpoint.npz")))
    z["format_version"] = np.array(1)
    np.savez(os.path.join(old, "checkpoint.npz"), **z)
    cases[old] = "format 1"
    pickled = copy_of(finished_run, tmp_path / "d")       # an older refasync's pickled snapshot
    z = dict(np.load(os.path.join(pickled, "checkpoint.npz")))
    z.update(format_version=np.array(2), worker_states=np.frombuffer(b"\x80\x04\x95.", np.uint8))
    np.savez(os.path.join(pickled, "checkpoint.npz"), **z)
    cases[pickled] = "holds a pickle"
    objects = copy_of(finished_run, tmp_path / "e")       # an object array: np.load would unpickle it
    z = dict(np.load(os.path.join(objects, "checkpoint.npz")))
    z["theta"] = np.array([{"code": "anything"}], dtype=object)
    np.savez(os.path.join(objects, "checkpoint.npz"), **z)
    cases[objects] = "corrupt"
    for run_dir, message in cases.items():
        before = folder_digest(run_dir)
        r = train("--resume", run_dir, "--steps", "6000")
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and message in r.stderr, r.stderr
        assert folder_digest(run_dir) == before


@pytest.mark.slow
def test_a_finished_run_is_extended_by_a_larger_steps(finished_run, tmp_path):
    run_dir = copy_of(finished_run, tmp_path)
    n_before = len(episodes(run_dir))
    r = train("--resume", run_dir, "--ste", "6000", "--no-prog")      # abbreviations, as argparse allows
    assert r.returncode == 0, r.stderr
    summary = json.load(open(os.path.join(run_dir, "summary.json")))
    config = json.load(open(os.path.join(run_dir, "config.json")))
    assert summary["T"] == 6000 and summary["resumes"] == 1 and config["steps"] == 6000
    assert len(episodes(run_dir)) > n_before



def test_resumed_and_restarted_workers_draw_new_streams():
    from refasync.workers import worker_seeds
    first = [env_seed for _, env_seed in worker_seeds(3, 4)]
    resumed = [env_seed for _, env_seed in worker_seeds(3, 4, (1,))]
    restarted = [env_seed for _, env_seed in worker_seeds(3, 4, (1, 1))]
    assert len(set(first) | set(resumed) | set(restarted)) == 12
    assert first == [env_seed for _, env_seed in worker_seeds(3, 4, ())]    # a fresh run is unchanged


def test_continuous_runs_recorded_before_the_tanh_mean_keep_their_linear_mean():
    """A config.json written before DEVIATION 7 has no linear_mu: its network had the
    paper's linear mean, and resuming or evaluating it must keep that."""
    from refasync.config import Config
    old = Config(network="gaussian").to_dict()
    del old["linear_mu"]
    assert Config.from_dict(old).linear_mu is True
    assert Config.from_dict({**old, "linear_mu": False}).linear_mu is False
    assert Config.from_dict(Config(network="mlp").to_dict()).linear_mu is False


def _tiny_deterministic(tmp_path, **overrides):
    from refasync.config import Config
    from refasync.logs import RunRecorder
    from refasync.nn import build_network
    cfg = Config(algo="a3c", env="CartPole-v1", workers=2, steps=300, hidden=(8,), deterministic=True,
                 t_max=5, **overrides)
    spec = ((4,), 2, 1)
    net = build_network(cfg, *spec[:2])
    theta0 = net.init(np.random.default_rng(0))
    return cfg, spec, theta0, RunRecorder(str(tmp_path / "run"), cfg, 1, progress=False)


def test_a_deterministic_resume_without_a_snapshot_draws_new_streams(tmp_path, monkeypatch):
    """A checkpoint without the exact snapshot (the last stop was a failure, or it is a
    process-mode checkpoint): the workers start new episodes from new streams, as in
    process mode, instead of replaying the run's first ones."""
    from refasync import runner
    from refasync.workers import worker_seeds
    seeds = []

    class Spy(runner.Interleave):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            seeds.append([ctx.env._seed for ctx in self.ctxs])
    monkeypatch.setattr(runner, "Interleave", Spy)
    cfg, spec, theta0, recorder = _tiny_deterministic(tmp_path)
    restored = {"theta": theta0, "opt_stat": np.zeros_like(theta0), "T": 100, "resumes": 2,
                "eps_finals": np.full(2, np.nan), "snapshot": None}
    try:
        runner.run_deterministic(cfg, spec, theta0, recorder, restored)
        runner.run_deterministic(cfg, spec, theta0, recorder)
    finally:
        recorder.close()
    assert seeds[0] == [s for _, s in worker_seeds(cfg.seed, 2, (3,))]     # the third resume's
    assert seeds[1] == [s for _, s in worker_seeds(cfg.seed, 2)]          # a fresh run's


def test_a_deterministic_run_reports_a_nan_as_non_finite(tmp_path):
    from refasync.errors import NonFiniteError, WorkerFailed
    from refasync.runner import run_deterministic
    cfg, spec, theta0, recorder = _tiny_deterministic(tmp_path, lr=1e30, max_grad_norm=0.0, lr_anneal=False)
    try:
        with pytest.raises((WorkerFailed, NonFiniteError)) as e:
            run_deterministic(cfg, spec, theta0, recorder)
    finally:
        recorder.close()
    assert isinstance(e.value, NonFiniteError) or e.value.non_finite

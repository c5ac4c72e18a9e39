"""The command lines as a user runs them: subprocesses with tiny budgets."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALGOS = ["q", "sarsa", "nq", "a3c"]


def shm():
    return set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()


def run(args, timeout=240, **kw):
    return subprocess.run([sys.executable, "-m"] + args, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, **kw)


def train_args(tmp_path, *extra, name="run"):
    return ["refasync.train", "--no-progress", "--out", str(tmp_path / name), *extra]


def read_episodes(path):
    with open(path) as f:
        return list(csv.DictReader(f))


@pytest.mark.slow
@pytest.mark.parametrize("algo", ALGOS)
def test_tiny_training_run_writes_the_run_folder(tmp_path, algo):
    before = shm()
    r = run(train_args(tmp_path, "--algo", algo, "--steps", "3000", "--workers", "2",
                       "--eval-episodes", "2"))
    assert r.returncode == 0, r.stderr
    out = tmp_path / "run"
    for name in ("config.json", "episodes.csv", "progress.csv", "checkpoint.npz", "summary.json",
                 "learning_curve.png"):      # matplotlib is a dependency: every run gets its picture
        assert (out / name).is_file(), name
    policy = "argmax pi" if algo == "a3c" else "argmax Q"
    assert f"evaluation, greedy ({policy})" in r.stdout and "done: T=3,000" in r.stdout
    assert json.load(open(out / "summary.json"))["eval_policy"] == f"greedy ({policy})"
    episodes = read_episodes(out / "episodes.csv")
    # (a worker that starts late may find the 3,000 steps already taken by the other)
    assert len(episodes) > 10 and {e["worker"] for e in episodes} <= {"0", "1"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == 0 and summary["T"] == 3000 and summary["greedy_eval_episodes"] == 2
    assert len(summary["worker_peak_rss_mb"]) == 2 and summary["startup_s"] > 0
    with np.load(out / "checkpoint.npz", allow_pickle=False) as z:
        assert int(z["T"]) >= 3000 and np.all(np.isfinite(z["theta"]))
        if algo == "a3c":                                 # no epsilon to record
            assert "worker_final_epsilons" not in summary
        else:                                             # the draws that shaped the curve, in the record
            assert summary["worker_final_epsilons"] == z["eps_finals"].tolist()
            assert set(summary["worker_final_epsilons"]) <= {0.1, 0.01, 0.5}
    ev = run(["refasync.evaluate", str(out), "--episodes", "2"])
    assert ev.returncode == 0, ev.stderr
    assert "mean" in ev.stdout
    assert shm() <= before


@pytest.mark.parametrize("args,expect", [
    (["--algo", "dqn"], "unknown algorithm"),
    (["--env", "NoSuchEnv-v9"], "unknown environment"),
    (["--algo", "q", "--env", "Pendulum-v1"], "discrete actions"),
    (["--steps", "0"], "--steps"),
    (["--workers", "-1"], "--workers"),
    (["--lr", "-0.1"], "--lr"),
    (["--t-max", "0"], "--t-max"),
    (["--gamma", "1.5"], "--gamma"),
    (["--steps", "ten"], "invalid int value"),
    (["--seed", "-1"], "--seed"),
    (["--max-grad-norm", "nan"], "finite"),
    (["--reward-scale", "0"], "--reward-scale"),
    (["--out", "/dev/null/x"], "cannot"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, expect):
    r = run(train_args(tmp_path, *args), timeout=60)
    assert r.returncode == 2, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and expect in lines[0], r.stderr
    assert "Traceback" not in r.stderr + r.stdout


@pytest.mark.slow
def test_evaluate_bad_run_folders(tmp_path):
    r = run(["refasync.evaluate", str(tmp_path / "missing")], timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"algo": "a3c", "env": "CartPole-v1", "obs_shape": [4], '
                                        '"n_actions": 2, "network": "mlp", "hidden": [64, 64]}')
    (broken / "checkpoint.npz").write_bytes(b"not a zip file")
    r = run(["refasync.evaluate", str(broken)], timeout=60)
    assert r.returncode == 2 and "corrupt" in r.stderr and "Traceback" not in r.stderr
    # a real checkpoint cut short
    good = io.BytesIO()
    np.savez(good, theta=np.zeros(10))
    (broken / "checkpoint.npz").write_bytes(good.getvalue()[:-20])
    r = run(["refasync.evaluate", str(broken)], timeout=60)
    assert r.returncode == 2 and "corrupt" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_deterministic_runs_are_bitwise_reproducible(tmp_path):
    def once(name, seed):
        r = run(train_args(tmp_path, "--algo", "a3c", "--steps", "4000", "--workers", "3",
                           "--deterministic", "--seed", str(seed), "--eval-episodes", "0", name=name))
        assert r.returncode == 0, r.stderr
        with np.load(tmp_path / name / "checkpoint.npz", allow_pickle=False) as z:
            theta = z["theta"]
        episodes = [(e["T"], e["worker"], e["return"], e["length"])
                    for e in read_episodes(tmp_path / name / "episodes.csv")]
        return theta, episodes

    a, ep_a = once("a", 7)
    b, ep_b = once("b", 7)
    c, ep_c = once("c", 8)
    assert a.tobytes() == b.tobytes()
    assert ep_a == ep_b and len(ep_a) > 20
    assert not np.array_equal(a, c) and ep_a != ep_c


def worker_pids(parent_pid):
    """PIDs of the spawned workers of a process (not its resource tracker)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if ppid == parent_pid and b"spawn_main" in cmd:
            pids.append(int(entry))
    return pids


@pytest.fixture
def long_runs():
    """Popen for training runs that the test stops; whatever is left is killed."""
    procs = []

    def start(args):
        p = subprocess.Popen([sys.executable, "-m"] + args, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
        procs.append(p)
        return p

    yield start
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()


def start_long_run(long_runs, tmp_path, *extra):
    p = long_runs(train_args(tmp_path, "--steps", "100000000", "--workers", "2", *extra))
    deadline = time.monotonic() + 120
    progress = tmp_path / "run" / "progress.csv"
    while time.monotonic() < deadline:      # wait until training is under way
        if progress.exists() and len(progress.read_text().splitlines()) >= 2:
            break
        assert p.poll() is None, p.communicate()
        time.sleep(0.2)
    else:
        p.kill()
        pytest.fail("training did not start")
    return p


@pytest.mark.slow
@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_saves_and_exits_cleanly(tmp_path, long_runs, sig, code):
    before = shm()
    p = start_long_run(long_runs, tmp_path, "--algo", "a3c")
    workers = worker_pids(p.pid)
    assert len(workers) == 2
    if sig == signal.SIGINT:      # Ctrl-C reaches the whole foreground group
        for pid in [p.pid] + workers:
            os.kill(pid, signal.SIGINT)
    else:
        p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "Traceback" not in err
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
    assert "run folder" in out
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    assert shm() <= before


@pytest.mark.slow
def test_a_run_folder_removed_mid_run_is_one_line_and_exit_1(tmp_path, long_runs):
    """Disk full, folder deleted: the checkpoint cannot be written.  The run stops
    with one line naming the folder, no traceback, and no worker left behind."""
    import shutil
    before = shm()
    p = start_long_run(long_runs, tmp_path, "--algo", "a3c")
    workers = worker_pids(p.pid)
    shutil.rmtree(tmp_path / "run")
    p.send_signal(signal.SIGTERM)       # stop now: the final checkpoint has nowhere to go
    out, err = p.communicate(timeout=60)
    assert p.returncode == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "cannot write" in lines[0] and str(tmp_path / "run") in lines[0], err
    for pid in workers:
        assert not os.path.exists(f"/proc/{pid}") or "Z" in open(f"/proc/{pid}/stat").read().split()[2]
    assert shm() <= before


@pytest.mark.slow
def test_a_killed_worker_is_reported_and_stops_the_run(tmp_path, long_runs):
    before = shm()
    p = start_long_run(long_runs, tmp_path, "--algo", "nq")
    workers = worker_pids(p.pid)
    t0 = time.monotonic()
    os.kill(workers[1], signal.SIGKILL)
    out, err = p.communicate(timeout=60)
    # noticed at once; the other worker then gets up to 5 s to stop, and the run is saved
    assert time.monotonic() - t0 < 10
    assert p.returncode == 1
    assert "worker 1 was killed by signal SIGKILL" in err
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
    assert shm() <= before


@pytest.mark.slow
def test_non_finite_parameters_stop_the_run_with_a_clear_message(tmp_path):
    r = run(train_args(tmp_path, "--algo", "q", "--steps", "200000", "--workers", "2",
                       "--lr", "1e30", "--max-grad-norm", "0"))
    assert r.returncode == 1
    assert "non-finite" in r.stderr and "T=" in r.stderr and "worker" in r.stderr
    assert "Traceback" not in r.stderr
    # the diverged parameters never replace a checkpoint
    assert "no checkpoint had been saved yet" in r.stderr
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


@pytest.mark.slow
def test_an_existing_run_folder_is_never_overwritten(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "config.json").write_text("{}")
    r = run(train_args(tmp_path, "--algo", "a3c", "--steps", "100"), timeout=60)
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (tmp_path / "run" / "config.json").read_text() == "{}"


@pytest.mark.slow
def test_ctrl_c_while_workers_are_starting(tmp_path, long_runs):
    """Ctrl-C reaches workers that are still importing: no traceback, exit 130."""
    before = shm()
    p = long_runs(train_args(tmp_path, "--steps", "100000000", "--workers", "2", "--algo", "nq"))
    deadline = time.monotonic() + 60
    workers = []
    while len(workers) < 2 and time.monotonic() < deadline:
        workers = worker_pids(p.pid)
        time.sleep(0.01)
    assert len(workers) == 2
    for pid in [p.pid] + workers:
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            pass
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert shm() <= before


@pytest.mark.slow
def test_a_worker_that_raises_is_reported_with_its_traceback(tmp_path):
    before = shm()
    r = run(train_args(tmp_path, "--algo", "a3c", "--env", "tests.mdps:RefasyncTest/Raise-v0",
                       "--steps", "100000", "--workers", "2"), timeout=120)
    assert r.returncode == 1
    assert "failed" in r.stderr and "Traceback" in r.stderr and "boom from inside the environment" in r.stderr
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
    assert shm() <= before


@pytest.mark.slow
def test_evaluate_acts_as_the_evaluation_after_training(tmp_path):
    """Both take argmax pi for A3C by default: the same seeds give the same scores."""
    r = run(train_args(tmp_path, "--algo", "a3c", "--steps", "20000", "--workers", "1",
                       "--eval-episodes", "3", "--seed", "4"))
    assert r.returncode == 0, r.stderr
    summary = json.load(open(tmp_path / "run" / "summary.json"))
    # train evaluates with seed + 10,000 (refasync.train)
    r = run(["refasync.evaluate", str(tmp_path / "run"), "--episodes", "3", "--seed", "10004"])
    assert r.returncode == 0, r.stderr
    assert "greedy (argmax pi)" in r.stdout
    assert f"mean {summary['greedy_eval_mean']:.2f} +- {summary['greedy_eval_std']:.2f}" in r.stdout
    r = run(["refasync.evaluate", str(tmp_path / "run"), "--episodes", "3", "--sample"])
    assert r.returncode == 0 and "sampled from pi" in r.stdout
    r = run(["refasync.evaluate", str(tmp_path / "run"), "--greedy", "--sample"])
    assert r.returncode == 2 and r.stderr.count("\n") == 1


@pytest.mark.slow
def test_a_killed_worker_is_replaced_with_restart_workers(tmp_path, long_runs):
    before = shm()
    p = long_runs(train_args(tmp_path, "--algo", "nq", "--steps", "600000", "--workers", "2",
                             "--restart-workers", "2", "--eval-episodes", "0"))
    deadline = time.monotonic() + 120
    while len(worker_pids(p.pid)) < 2 or not (tmp_path / "run" / "progress.csv").exists():
        assert time.monotonic() < deadline and p.poll() is None
        time.sleep(0.1)
    time.sleep(1.0)
    old = worker_pids(p.pid)
    os.kill(old[1], signal.SIGKILL)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    assert "was killed by signal SIGKILL" in out and "restarting it (1 of 2 restarts)" in out
    summary = json.load(open(tmp_path / "run" / "summary.json"))
    assert summary["status"] == 0 and summary["T"] == 600000
    assert len(summary["worker_restarts"]) == 1 and "SIGKILL" in summary["worker_restarts"][0]["cause"]
    with open(tmp_path / "run" / "progress.csv") as f:
        assert list(csv.DictReader(f))[-1]["restarts"] == "1"
    assert shm() <= before


@pytest.mark.slow
def test_non_finite_parameters_stop_the_run_even_with_restarts(tmp_path):
    r = run(train_args(tmp_path, "--algo", "q", "--steps", "200000", "--workers", "2",
                       "--lr", "1e30", "--max-grad-norm", "0", "--restart-workers", "3"))
    assert r.returncode == 1 and "non-finite" in r.stderr and "restarting" not in r.stdout


@pytest.mark.slow
def test_a3c_trains_on_continuous_actions_and_the_q_methods_refuse_them(tmp_path):
    r = run(train_args(tmp_path, "--algo", "a3c", "--env", "Pendulum-v1", "--steps", "3000", "--workers", "2",
                       "--eval-episodes", "2"))
    assert r.returncode == 0, r.stderr
    assert "evaluation, greedy (mu)" in r.stdout
    config = json.load(open(tmp_path / "run" / "config.json"))
    assert config["network"] == "gaussian" and config["beta"] == 1e-4 and config["hidden"] == [200, 128]
    r = run(["refasync.evaluate", str(tmp_path / "run"), "--episodes", "1", "--sample"])
    assert r.returncode == 0 and "sampled from N(mu, sigma^2)" in r.stdout
    for algo in ("q", "sarsa", "nq"):
        r = run(train_args(tmp_path, "--algo", algo, "--env", "Pendulum-v1", name=f"q-{algo}"))
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--algo a3c" in r.stderr


def test_reward_scale_changes_what_the_learner_sees_not_the_score():
    """ADDITION 15: the learner's reward is reward_scale * r; the logged score stays raw."""
    from refasync.envs import EpisodeEnv, make_env
    scores = []
    raw = EpisodeEnv(make_env("Pendulum-v1"), 3, False, lambda score, n: scores.append(score))
    scaled = EpisodeEnv(make_env("Pendulum-v1"), 3, False, lambda score, n: scores.append(score),
                        reward_scale=0.01)
    raw.reset(), scaled.reset()
    for t in range(200):
        a = np.array([2.5 * np.sin(t / 7.0)])
        _, r, _, truncated = raw.step(a)
        _, r_scaled, _, truncated_too = scaled.step(a)
        assert r < 0 and r_scaled == 0.01 * r and truncated == truncated_too
    assert truncated and len(scores) == 2 and scores[0] == scores[1] < -100


@pytest.mark.slow
def test_a3c_on_a_mujoco_task(tmp_path):
    pytest.importorskip("mujoco")
    r = run(train_args(tmp_path, "--algo", "a3c", "--env", "InvertedPendulum-v5", "--steps", "2000",
                       "--workers", "2", "--eval-episodes", "1"))
    assert r.returncode == 0, r.stderr
    assert "greedy (mu)" in r.stdout

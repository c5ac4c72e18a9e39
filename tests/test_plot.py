"""python -m refasync.plot: the running mean, the labels, the table and the PNG."""
import pytest
import json
import re
import os
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from refasync.plot import first_reach, labels_for, main, mean_last_k, value_at

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def naive_mean_last_k(y, k):
    return np.array([np.mean(y[max(0, j - k + 1):j + 1]) for j in range(len(y))])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-21, 21), min_size=1, max_size=300), st.integers(1, 120))
def test_running_mean_equals_the_naive_one(y, k):
    np.testing.assert_allclose(mean_last_k(y, k), naive_mean_last_k(np.array(y, float), k), atol=1e-9)


def test_first_reach_and_value_at_by_hand():
    x = np.array([10.0, 20.0, 30.0, 40.0])
    m = np.array([-21.0, -16.0, -15.0, -14.0])
    assert first_reach(x, m, -15) == 30.0
    assert first_reach(x, m, 18) is None
    assert first_reach(x, m, -16, start=2) == 30.0     # only full windows from index 2 on
    assert value_at(x, m, 25) == -16.0        # the last episode ended at or before 25
    assert value_at(x, m, 40) == -14.0
    assert value_at(x, m, 5) is None


def fake_run(path, returns, frames_per_step=4, **settings):
    os.makedirs(path)
    config = {"algo": "a3c", "env": "ALE/Pong-v5", "workers": 2, "t_max": 5, "lr": 7e-4,
              "seed": 0, "out": str(path), "command": ["x"], "frames_per_step": frames_per_step,
              **settings}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(path, "episodes.csv"), "w") as f:
        f.write("T,frames,worker,return,length,wall_s\n")
        for i, r in enumerate(returns):
            T = 1000 * (i + 1)
            f.write(f"{T},{T * frames_per_step},0,{r},100,{i}\n")
    return str(path)


def test_labels_name_only_what_differs(tmp_path):
    a = fake_run(tmp_path / "a", [0], workers=2, t_max=5)
    b = fake_run(tmp_path / "b", [0], workers=16, t_max=5)
    c = fake_run(tmp_path / "c", [0], workers=2, t_max=20)
    configs = [json.load(open(os.path.join(p, "config.json"))) for p in (a, b, c)]
    assert labels_for([a, b, c], configs) == ["t_max=5, workers=2", "t_max=5, workers=16",
                                              "t_max=20, workers=2"]
    # the same settings twice: the folder names tell them apart
    assert labels_for([a, a], configs[:1] * 2) == ["a", "a"]
    # a setting only newer configs have is not a difference
    newer = dict(configs[1], restart_workers=0)
    assert labels_for([a, b], [configs[0], newer]) == ["workers=2", "workers=16"]
    # bookkeeping is not a setting: a resumed run is not labelled by its command lines
    resumed = [dict(c, resume_commands=[["python", "-m", "refasync.train", "--resume", p]])
               for c, p in zip(configs, (a, b))]
    assert labels_for([a, b], resumed[:2]) == ["workers=2", "workers=16"]
    d = fake_run(tmp_path / "d", [0], workers=16)
    labels = labels_for([a, b, d], configs[:2] + [json.load(open(os.path.join(d, "config.json")))])
    assert labels == ["workers=2 (a)", "workers=16 (b)", "workers=16 (d)"]


def test_overlay_writes_a_png_and_a_table_in_frames(tmp_path, capsys):
    slow = fake_run(tmp_path / "slow", [-21] * 150 + [-10] * 50, workers=2)
    fast = fake_run(tmp_path / "fast", [-21] * 120 + [-10] * 80, workers=16)
    out = tmp_path / "cmp.png"
    assert main([slow, fast, "--out", str(out), "--reach", "-15", "18", "--at", "400000"]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    lines = capsys.readouterr().out.splitlines()
    head = re.split(r"\s{2,}", lines[0].strip())
    rows = {r[0]: dict(zip(head, r)) for r in (re.split(r"\s{2,}", line.strip()) for line in lines[1:3])}
    assert head[2] == "frames"
    # "fast": mean-100 reaches -15 when 55 of its last 100 episodes are -10
    # (45 * -21 + 55 * -10 = -1495 >= -1500), after episode 120 + 55 = 175, which ends at
    # T = 175,000, i.e. 700,000 frames
    assert rows["workers=16"]["frames to >= -15"] == "700,000"
    assert rows["workers=16"]["frames to >= 18"] == "not reached"
    # "slow" ends with 50 of -21 and 50 of -10 in its last 100: -15.5, so never -15
    assert rows["workers=2"]["frames to >= -15"] == "not reached"
    assert rows["workers=2"]["last mean-100"] == "-15.50"
    # at 400,000 frames "slow" has played 100 episodes, all -21
    assert rows["workers=2"]["mean-100 at 400,000"] == "-21.00"
    assert rows["workers=16"]["episodes"] == "200"


def test_until_compares_runs_at_equal_frames(tmp_path, capsys):
    """--until X: only the episodes that ended by X count, for the curve and every column."""
    short = fake_run(tmp_path / "short", [-21] * 150, workers=2)
    long = fake_run(tmp_path / "long", [-21] * 150 + [-10] * 150, workers=16)
    assert main([short, long, "--out", str(tmp_path / "u.png"), "--until", "600000", "--reach", "-15"]) == 0
    lines = capsys.readouterr().out.splitlines()
    head = re.split(r"\s{2,}", lines[0].strip())
    rows = {r[0]: dict(zip(head, r)) for r in (re.split(r"\s{2,}", line.strip()) for line in lines[1:3])}
    # episode i ends at 4000 (i + 1) frames: 150 of the long run's episodes end by 600,000
    assert rows["workers=16"]["episodes"] == "150" and rows["workers=16"]["frames"] == "600,000"
    assert rows["workers=16"]["last mean-100"] == "-21.00"
    assert rows["workers=16"]["frames to >= -15"] == "not reached"


@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "refasync.plot", *args], cwd=str(tmp_path),
                              capture_output=True, text=True, timeout=120)
    r = run(str(tmp_path / "missing"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not a run folder" in r.stderr
    os.makedirs(tmp_path / "empty")
    r = run(str(tmp_path / "empty"))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "config.json" in r.stderr
    ok = fake_run(tmp_path / "ok", [1, 2, 3], frames_per_step=1, env="CartPole-v1")
    r = run(ok, "--window", "0")
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    with open(os.path.join(ok, "episodes.csv"), "a") as f:
        f.write("4000,4000,0,")             # a row cut short by a crash is skipped
    r = run(ok, "--out", "x.png")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.png").exists()
    assert re.split(r"\s{2,}", r.stdout.splitlines()[1].strip())[1] == "3"     # episodes


@pytest.mark.slow
def test_plot_reads_a_real_run_folder(tmp_path):
    run_dir = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "refasync.train", "--algo", "a3c", "--steps", "3000",
                        "--workers", "1", "--no-progress", "--eval-episodes", "0", "--out", str(run_dir)],
                       cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "refasync.plot", str(run_dir), "--out",
                        str(tmp_path / "c.png")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "c.png").stat().st_size > 1000
    assert "T" in r.stdout.splitlines()[0] and "run" in r.stdout.splitlines()[1]

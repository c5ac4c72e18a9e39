"""The diagnostic tools under tools/, run as a user runs them."""
import pytest
import os
import subprocess
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tool(*args, timeout=240):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def dead_fraction(stdout, layer):
    row = next(line.split() for line in stdout.splitlines() if line.startswith(layer + " "))
    return float(row[2].rstrip("%")) / 100


@pytest.mark.slow
def test_dead_units_finds_a_layer_killed_by_its_bias(tmp_path):
    run_dir = tmp_path / "run"
    r = tool("-m", "refasync.train", "--algo", "a3c", "--steps", "300", "--workers", "1",
             "--no-progress", "--eval-episodes", "0", "--out", str(run_dir))
    assert r.returncode == 0, r.stderr
    r = tool("tools/dead_units.py", str(run_dir), "--steps", "200")
    assert r.returncode == 0, r.stderr
    assert dead_fraction(r.stdout, "fc1") < 0.5          # a fresh network: most units fire

    from refasync.evaluate import load_run
    _, net, theta = load_run(str(run_dir))
    ckpt = dict(np.load(run_dir / "checkpoint.npz"))
    net.views(ckpt["theta"])["fc1.b"][:] = -1e6         # no input can make fc1 fire
    np.savez(run_dir / "checkpoint.npz", **ckpt)
    r = tool("tools/dead_units.py", str(run_dir), "--steps", "200")
    assert r.returncode == 0, r.stderr
    assert dead_fraction(r.stdout, "fc1") == 1.0


@pytest.mark.slow
def test_dead_units_rejects_a_missing_run_folder(tmp_path):
    r = tool("tools/dead_units.py", str(tmp_path / "nothing"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_profile_worker_phases_add_up_to_the_total():
    r = tool("tools/profile_worker.py", "--env", "CartPole-v1", "--seconds", "1", "--warmup", "0.5",
             "--workers", "1")
    assert r.returncode == 0, r.stderr
    header, row = r.stdout.splitlines()[1:3]
    names, values = header.split(), [float(v.replace(",", "")) for v in row.split()]
    cols = dict(zip(names, values))
    phases = ("env.step", "forward", "backward", "grad_norm", "optimizer", "rest")
    assert cols["N"] == 1 and cols["steps/s"] > 0
    assert cols["t_max"] == 20                           # the classic A3C preset's, for 1 worker
    assert all(cols[p] >= 0 for p in phases[:-1])
    assert abs(sum(cols[p] for p in phases) - cols["total"]) < 0.01


@pytest.mark.slow
def test_bench_train_rounds_report_medians_and_ratios():
    r = tool("tools/bench_train.py", "--env", "CartPole-v1", "--seconds", "2", "--workers", "1", "2",
             "--algos", "a3c", "--rounds", "2", timeout=600)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "medians over 2 rounds" in out
    medians = out.split("medians over 2 rounds")[1]
    rows = {tuple(line.split()[:2]): line.split() for line in medians.splitlines()
            if line.split()[:1] in (["1"], ["2"])}
    assert set(rows) == {("1", "env"), ("1", "a3c"), ("2", "env"), ("2", "a3c")}
    a3c = rows[("2", "a3c")]
    assert float(a3c[2].replace(",", "")) > 0 and 0 < float(a3c[4]) <= 1.5
    assert "scaling env only" in out and "a3c" in out.split("scaling")[1]


@pytest.mark.slow
def test_bench_train_ceiling_json_has_one_rate_per_n(tmp_path):
    import json
    path = tmp_path / "ceiling.json"
    r = tool("tools/bench_train.py", "--env", "CartPole-v1", "--seconds", "1", "--workers", "1", "2",
             "--ceiling-json", str(path))
    assert r.returncode == 0, r.stderr
    record = json.load(open(path))
    assert record["env"] == "CartPole-v1" and record["seconds"] == 1.0
    assert [c["processes"] for c in record["ceilings"]] == [1, 2]
    for c in record["ceilings"]:
        assert c["agent_steps_per_s"] > 0 and c["frames_per_s"] == c["agent_steps_per_s"]   # 1 frame per step
    assert "a3c" not in r.stdout                          # the ceiling only: nothing trained


@pytest.mark.slow
def test_run_until_stops_at_the_frame_count_and_keeps_the_lr_schedule(tmp_path):
    run_dir = tmp_path / "run"
    r = tool("tools/run_until.py", "--steps", "4000", "--poll", "0.2", "--",
             sys.executable, "-m", "refasync.train", "--algo", "a3c", "--steps", "5000000",
             "--workers", "1", "--no-progress", "--out", str(run_dir))
    assert r.returncode == 0, r.stderr                    # stopped on purpose: not a failure
    import json
    summary = json.load(open(run_dir / "summary.json"))
    config = json.load(open(run_dir / "config.json"))
    assert summary["status"] == 143 and 4000 <= summary["T"] < 5_000_000
    assert config["steps"] == 5_000_000                   # the schedule of the command's --steps
    assert "SIGTERM" in r.stdout


FAKE_TRAIN = r"""
import signal, sys, time
out = sys.argv[sys.argv.index("--out") + 1]
signal.signal(signal.SIGTERM, lambda *_: (open(out + "/stopped", "w").write(str(row)), sys.exit(143)))
rows = [(30, 50, 30.0), (60, 150, 10.0), (90, 250, 25.0), (120, 350, 26.0)]   # wall_s, episodes, mean-100
with open(out + "/progress.csv", "w") as f:
    f.write("wall_s,T,frames,episodes,mean_return_100\n")
    for row, (wall, episodes, mean) in enumerate(rows):
        f.write(f"{wall},{episodes},{4 * episodes},{episodes},{mean}\n")
        f.flush()
        time.sleep(0.6)
sys.exit(0)
"""


@pytest.mark.slow
@pytest.mark.parametrize("limit, stopped_at, says", [
    (("--mean100", "20"), 2, "mean-100 = 25.0 >= 20"),       # row 0's 30.0 is a mean of 50 episodes
    (("--minutes", "1.5"), 2, "training s = 90 >= 90"),
    (("--mean100", "20", "--minutes", "0.9"), 1, "training s = 60 >= 54"),   # whichever comes first
])
def test_run_until_stops_at_a_score_or_a_training_time(tmp_path, limit, stopped_at, says):
    r = tool("tools/run_until.py", *limit, "--poll", "0.2", "--",
             sys.executable, "-c", FAKE_TRAIN, "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert f"run_until: {says}: SIGTERM" in r.stdout
    assert (tmp_path / "stopped").read_text() == str(stopped_at)


SLOW_FAKE_TRAIN = r"""
import signal, sys, time
out = sys.argv[sys.argv.index("--out") + 1]
signal.signal(signal.SIGTERM, lambda *_: (open(out + "/stopped", "w").write("saved"), sys.exit(143)))
open(out + "/progress.csv", "w").write("wall_s,T,frames,episodes,mean_return_100\n")
time.sleep(120)
"""


@pytest.mark.slow
def test_run_until_passes_its_own_sigterm_on_to_the_run(tmp_path):
    # killing run_until (a session's end) must stop and save the run, not orphan it
    import signal, time
    proc = subprocess.Popen([sys.executable, "tools/run_until.py", "--minutes", "10", "--poll", "0.2",
                             "--", sys.executable, "-c", SLOW_FAKE_TRAIN, "--out", str(tmp_path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while not (tmp_path / "progress.csv").exists() and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)                                       # run_until is in its polling loop
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)                 # returns only once the run has exited
    assert (tmp_path / "stopped").read_text() == "saved", err
    assert proc.returncode == 143                         # not stopped by a limit: the run's own status


@pytest.mark.slow
def test_run_until_needs_a_condition():
    r = tool("tools/run_until.py", "--", sys.executable, "-m", "refasync.train", "--out", "x")
    assert r.returncode == 2 and "at least one of" in r.stderr


@pytest.mark.slow
def test_run_until_needs_the_run_folder():
    r = tool("tools/run_until.py", "--frames", "100", "--", sys.executable, "-m", "refasync.train")
    assert r.returncode == 2 and "--out" in r.stderr


@pytest.mark.slow
def test_atari_table_is_computed_from_the_records(tmp_path):
    """A synthetic Breakout record: 200 episodes, the i-th scoring i and ending at (i + 1) * 0.5M frames."""
    import json
    rec = tmp_path / "breakout-a3c-default"
    rec.mkdir()
    (rec / "config.json").write_text(json.dumps({"algo": "a3c", "env": "ALE/Breakout-v5", "seed": 3,
                                                 "frames_per_step": 4}))
    rows = ["T,frames,worker,return,length,wall_s"] + [
        f"{(i + 1) * 125_000},{(i + 1) * 500_000},0,{i},100,{i}" for i in range(200)]
    (rec / "episodes.csv").write_text("\n".join(rows) + "\n")
    (rec / "summary.json").write_text(json.dumps({"frames": 100_200_000, "wall_s": 5400.0}))
    (rec / "evaluation.json").write_text(json.dumps({
        "greedy": {"mean": 10.0, "std": 1.0, "scores": [9, 11], "protocol": {"episodes": 2}},
        "sampled": {"mean": 20.0, "std": 2.0, "scores": [18, 22], "protocol": {"episodes": 2}}}))
    (tmp_path / "cartpole").mkdir()       # not an Atari record: ignored
    (tmp_path / "cartpole" / "config.json").write_text(json.dumps({"algo": "a3c", "env": "CartPole-v1"}))
    r = tool("tools/atari_table.py", "--results", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "1 Atari records" in r.stdout and (tmp_path / "atari.png").stat().st_size > 10_000
    row = next(line for line in (tmp_path / "atari.md").read_text().splitlines() if line.startswith("| Breakout"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # at 10M frames episode 19 has just ended: the mean of returns 0..19 = 9.5; at 40M, of 0..79 = 39.5;
    # at 80M the window is 60..159 = 109.5; best: the last full window, 100..199 = 149.5
    assert cells[:9] == ["Breakout", "A3C", "3", "100.2M", "90 min", "9.5", "39.5", "109.5", "149.5"]
    assert cells[9] == "sampled 20.0 ± 2.0 (2)<br>greedy 10.0 ± 1.0 (2)"
    # muupan's curve has a point every 4M frames: at or before 10M frames is the one at 8M (1.5)
    anchor = [line for line in (tmp_path / "atari.md").read_text().splitlines() if line.startswith("| Breakout")][1]
    assert anchor.endswith("| ~150 | muupan/async-rl A3C FF, 36 processes, life loss terminal, mean of 10 "
                           "sampled test runs: 1.5 / 13.0 / 377.1 |")
    # Space Invaders' known curve is muupan's LSTM run, labelled as such: 218.5 at 8M, 379.0 at 40M, 603.0 at 80M
    anchor = next(line for line in (tmp_path / "atari.md").read_text().splitlines()
                  if line.startswith("| Space Invaders"))
    assert "A3C LSTM (not FF)" in anchor and anchor.endswith(": 218.5 / 379.0 / 603.0 |")


@pytest.mark.slow
def test_bench_update_counts_the_passes_and_measures_them():
    """The counted traffic is 19 float32 vectors per update at t_max 5 (zero 2, copy 3, forward 5,
    gradient 3, norm 1, RMSProp 5), 18 when the sweep resets d_theta, 17 when the backward pass
    writes d_theta; every variant is measured, the two subnormal ones as separate's passes."""
    r = tool("tools/bench_update.py", "--workers", "1", "--seconds", "0.3", "--rounds", "1")
    assert r.returncode == 0, r.stderr
    P = int(r.stdout.split(" float32 parameters")[0].split()[-1].replace(",", ""))
    totals = {line.split()[0]: float(line.split()[-1]) for line in r.stdout.splitlines()
              if line.split()[:1] in (["separate"], ["zero-in-sweep"], ["first-write"], ["subnormal-g"],
                                      ["subnormal-flushed"])}
    assert totals == {"separate": round(19 * 4 * P / 1e6, 1), "zero-in-sweep": round(18 * 4 * P / 1e6, 1),
                      "first-write": round(17 * 4 * P / 1e6, 1), "subnormal-g": round(19 * 4 * P / 1e6, 1),
                      "subnormal-flushed": round(19 * 4 * P / 1e6, 1)}
    measured = [line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["1"]]
    assert [m[1] for m in measured] == ["separate", "zero-in-sweep", "first-write", "subnormal-g",
                                        "subnormal-flushed"]
    assert all(float(m[2].replace(",", "")) > 0 for m in measured)
    assert "zero-in-sweep / separate" in r.stdout and "subnormal-g / subnormal-flushed" in r.stdout

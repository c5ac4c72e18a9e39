"""--tensorboard writes event files with CleanRL's tags, x = frames (skipped where the
optional `tensorboard` extra is not installed)."""
import glob
import os
import struct
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow      # every test here runs a command line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_scalars(path):
    """{tag: [(step, value)]} from a TensorBoard event file (TFRecord framing)."""
    from tensorboardX.proto import event_pb2
    out = {}
    with open(path, "rb") as f:
        while True:
            head = f.read(12)
            if len(head) < 12:
                return out
            (n,) = struct.unpack("<Q", head[:8])
            event = event_pb2.Event.FromString(f.read(n))
            f.read(4)
            for v in event.summary.value:
                out.setdefault(v.tag, []).append((event.step, v.simple_value))


def test_event_files_hold_the_run_scalars(tmp_path):
    pytest.importorskip("tensorboardX")
    run_dir = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "refasync.train", "--algo", "a3c", "--steps", "20000",
                        "--workers", "1", "--no-progress", "--eval-episodes", "0", "--tensorboard",
                        "--out", str(run_dir)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    files = glob.glob(str(run_dir / "events.out.tfevents.*"))
    assert len(files) == 1
    scalars = read_scalars(files[0])
    for tag in ("charts/episodic_return", "charts/episodic_length", "charts/SPS", "charts/mean_return_100",
                "losses/loss", "losses/entropy", "losses/grad_norm"):
        assert scalars.get(tag), tag
    with open(run_dir / "episodes.csv") as f:
        n_episodes = sum(1 for _ in f) - 1
    returns = scalars["charts/episodic_return"]
    assert len(returns) == n_episodes and 15000 < returns[-1][0] <= 20000 + 20    # x = frames (= T here)


def test_tensorboard_without_the_extra_is_a_one_line_error(tmp_path):
    try:
        import tensorboardX  # noqa: F401
        pytest.skip("the tensorboard extra is installed here")
    except ImportError:
        pass
    r = subprocess.run([sys.executable, "-m", "refasync.train", "--steps", "100", "--tensorboard",
                        "--out", str(tmp_path / "r")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "refasync[tensorboard]" in r.stderr

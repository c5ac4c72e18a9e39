"""python -m refasync.evaluate RUN --video FILE: the file decodes to every frame the
game showed (skipped where the optional `video` extra is not installed)."""
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow      # every test here runs a command line

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def frames_written(stdout):
    return int(re.search(r"wrote .*: (\d+) frames", stdout).group(1))


@pytest.fixture(scope="module")
def imageio():
    pytest.importorskip("imageio_ffmpeg")
    pytest.importorskip("pygame")
    return pytest.importorskip("imageio.v3")


def test_a_classic_control_video_has_one_frame_per_step_and_reset(tmp_path, imageio):
    r = run("refasync.train", "--algo", "a3c", "--steps", "3000", "--workers", "1", "--no-progress",
            "--eval-episodes", "0", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    video = tmp_path / "eval.mp4"
    r = run("refasync.evaluate", str(tmp_path / "run"), "--episodes", "2", "--video", str(video))
    assert r.returncode == 0, r.stderr
    scores = [float(x) for x in re.search(r"min ([\d.]+), max ([\d.]+)", r.stdout).groups()]
    n = frames_written(r.stdout)
    # CartPole scores 1 per step: frames = both episodes' steps + one frame per reset
    assert n == int(scores[0] + scores[1]) + 2
    frames = list(imageio.imiter(video))
    assert len(frames) == n and frames[0].shape == (400, 600, 3)


def test_an_atari_video_shows_every_emulator_frame_at_full_size(tmp_path, imageio):
    r = run("refasync.train", "--algo", "a3c", "--env", "ALE/Pong-v5", "--steps", "200", "--workers", "1",
            "--no-progress", "--out", str(tmp_path / "pong"))
    assert r.returncode == 0, r.stderr
    video = tmp_path / "pong.mp4"
    r = run("refasync.evaluate", str(tmp_path / "pong"), "--episodes", "1", "--video", str(video))
    assert r.returncode == 0, r.stderr
    n = frames_written(r.stdout)
    assert "60 fps" in r.stdout and n > 1000          # a whole game of Pong, 4 frames per action
    frames = list(imageio.imiter(video))
    assert len(frames) == n and frames[0].shape == (210, 160, 3)


def test_a_gif_is_written_too(tmp_path, imageio):
    r = run("refasync.train", "--algo", "nq", "--steps", "2000", "--workers", "1", "--no-progress",
            "--eval-episodes", "0", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    r = run("refasync.evaluate", str(tmp_path / "run"), "--episodes", "1", "--video", str(tmp_path / "e.gif"))
    assert r.returncode == 0, r.stderr
    # GIF writers merge identical consecutive frames (their display times add up)
    assert 0 < len(list(imageio.imiter(tmp_path / "e.gif"))) <= frames_written(r.stdout)


def test_bad_video_names_are_one_line_errors(tmp_path):
    r = run("refasync.train", "--algo", "nq", "--steps", "500", "--workers", "1", "--no-progress",
            "--eval-episodes", "0", "--out", str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    for name, message in (("x.avi", ".mp4 or .gif"), (str(tmp_path / "no" / "x.mp4"), "no folder")):
        r = run("refasync.evaluate", str(tmp_path / "run"), "--video", name)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and (message in r.stderr or "video extra" in r.stderr)

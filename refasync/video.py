"""Videos of evaluation episodes (``python -m refasync.evaluate RUN --video FILE``).

Written with imageio (and imageio-ffmpeg, whose wheel carries ffmpeg), the optional
``video`` extra.  Atari: the emulator's RGB screen at full size (210x160), every
frame, at the ALE's 60 frames per second; classic control: ``render()`` of an env
made with ``render_mode="rgb_array"`` after every step, at the env's render fps.
"""
from __future__ import annotations

import os

from .errors import ConfigError

INSTALL = "pip install 'refasync[video]'   (imageio, imageio-ffmpeg, and pygame for classic control)"
ATARI_FPS = 60


class VideoWriter:
    """Frames in, an .mp4 (H.264) or .gif file out; counts what it wrote."""

    def __init__(self, path, fps):
        ext = os.path.splitext(path)[1].lower()
        if ext not in (".mp4", ".gif"):
            raise ConfigError(f"--video must name an .mp4 or .gif file, got {path!r}")
        try:
            import imageio.v2 as imageio
            if ext == ".mp4":
                import imageio_ffmpeg  # noqa: F401  (the ffmpeg binary)
        except ImportError:
            raise ConfigError(f"--video needs the video extra: {INSTALL}") from None
        folder = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(folder):
            raise ConfigError(f"cannot write {path}: no folder {folder}")
        self.path, self.fps, self.n_frames = path, fps, 0
        if ext == ".mp4":   # yuv420p needs even sizes, which both Atari and classic frames have
            self._writer = imageio.get_writer(path, fps=fps, codec="libx264", macro_block_size=2,
                                              ffmpeg_log_level="error")
        else:               # GIF frame times are in milliseconds
            self._writer = imageio.get_writer(path, mode="I", duration=1000.0 / fps, loop=0)

    def __call__(self, frame):
        self._writer.append_data(frame)
        self.n_frames += 1

    def close(self):
        self._writer.close()

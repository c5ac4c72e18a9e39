"""The ``slow`` marker: tests that start processes (our command lines, tools, spawned
workers).  ``python -m pytest -q -m "not slow"`` runs the numerical core alone; there, a
test that starts one of our processes without the marker fails, so the marker cannot go
stale.  (Libraries may start their own helpers: MuJoCo's import asks a subprocess for the
OpenGL version.)"""
import multiprocessing.process
import subprocess

import pytest

_real_popen_init = subprocess.Popen.__init__


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: starts processes (refasync's command lines, tools/, "
                                       "spawned workers); deselect with -m 'not slow'")


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(request, monkeypatch):
    if request.node.get_closest_marker("slow") is not None:
        return

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} starts a process: mark it @pytest.mark.slow")

    def popen_init(self, args, *rest, **kwargs):
        words = [args] if isinstance(args, (str, bytes)) else list(args)
        if any("refasync" in str(w) or "tools/" in str(w) or str(w).startswith("tools") for w in words):
            refuse()
        _real_popen_init(self, args, *rest, **kwargs)
    monkeypatch.setattr(subprocess.Popen, "__init__", popen_init)
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", refuse)

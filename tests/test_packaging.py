"""The golden files ship inside the package: a wheel holds every file the manifest
names, and the cross-check finds them from any folder."""
import json
import os
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.slow
def test_the_wheel_carries_every_golden_file(tmp_path):
    setuptools = pytest.importorskip("setuptools")
    major, minor = (int(x) for x in setuptools.__version__.split(".")[:2])
    if (major, minor) < (70, 1):          # older setuptools build wheels with the `wheel` package
        pytest.importorskip("wheel")
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(tmp_path), ROOT], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel, = [f for f in os.listdir(tmp_path) if f.endswith(".whl")]
    names = set(zipfile.ZipFile(tmp_path / wheel).namelist())
    manifest = json.load(open(os.path.join(ROOT, "refasync", "golden", "manifest.json")))
    wanted = {"refasync/golden/manifest.json", "refasync/golden/README.md"}
    wanted |= {f"refasync/golden/{case['file']}" for case in manifest["cases"]}
    assert wanted <= names, f"missing from the wheel: {sorted(wanted - names)}"


@pytest.mark.slow
def test_crosscheck_runs_from_an_empty_folder(tmp_path):
    r = subprocess.run([sys.executable, "-m", "refasync.crosscheck"], cwd=str(tmp_path),
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    assert " 0 failed" in r.stdout

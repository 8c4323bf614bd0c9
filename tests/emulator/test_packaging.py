"""`pip install .` into a fresh virtualenv outside the repository gives a working `stripe-emulator`
(its data files and README ship with it). Slow: it builds the project and installs its dependencies
from PyPI (run with `./run test -m slow`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_pip_install_gives_a_working_stripe_emulator(tmp_path):
    source = tmp_path / "clone"  # pip builds in the source tree: a copy keeps build/ out of the repository
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", ".stripe-sync"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, str(source)], check=True, cwd=tmp_path, timeout=600)
    ready = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [str(venv / "bin" / "stripe-emulator"), "--port", "0", "--ready-file", str(ready)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        info = orjson.loads(ready.read_bytes())
        r = requests.get(info["url"] + "/v1/customers", auth=(info["api_key"], ""), timeout=10)
        assert r.status_code == 200 and r.json()["object"] == "list" and r.json()["data"]
        bad = requests.get(info["url"] + "/v1/customers", params={"email[]": "x"}, auth=(info["api_key"], ""))
        assert bad.status_code == 400  # the generated schemas shipped too
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    site = next((venv / "lib").glob("python3*/site-packages"))
    assert (site / "stripe_emulator" / "README.md").is_file()
    assert (site / "throwaway_postgres" / "cluster.py").is_file()

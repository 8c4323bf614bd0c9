"""The static checks are part of the test suite, so `./run test` (and CI) runs them (docs/architecture.md,
"Static checks"): ruff (lint, line length 110), mypy (types of the product packages, at the strictness
pyproject.toml holds) and import-linter (the layering contracts of pyproject.toml). Each test fails with
the tool's own output. A last test proves the contracts are not vacuous: a forbidden import planted in a
copy of the tree breaks them.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PACKAGES = ("specs", "protocol", "connector_kit", "source_stripe", "destination_postgres", "engine",
            "stripe_emulator", "throwaway_postgres")


def run_tool(name: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    exe = BIN / name
    if not exe.exists():
        pytest.fail(f"{name} is not installed in {BIN}: run ./run test (it installs the test extra)")
    return subprocess.run([str(exe), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def assert_clean(proc: subprocess.CompletedProcess, tool: str) -> None:
    assert proc.returncode == 0, f"{tool} failed:\n{proc.stdout}\n{proc.stderr}"


def test_ruff_is_clean():
    assert_clean(run_tool("ruff", "check", "--no-cache", "."), "ruff")


def test_mypy_finds_no_type_errors_in_the_product_packages():
    assert_clean(run_tool("mypy", "--no-incremental"), "mypy")


def test_the_layering_contracts_hold():
    proc = run_tool("lint-imports", "--no-cache")
    assert_clean(proc, "lint-imports")
    assert "0 broken" in proc.stdout


def test_a_forbidden_import_breaks_the_contracts(tmp_path):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with open(tmp_path / "protocol" / "ranges.py", "a") as f:
        f.write("\nimport engine.tracker  # noqa: E402,F401  (planted: protocol may not import the engine)\n")
    proc = run_tool("lint-imports", "--no-cache", cwd=tmp_path)
    assert proc.returncode != 0, proc.stdout
    assert "protocol (the wire contract) imports nothing of ours but specs BROKEN" in proc.stdout
    assert "protocol.ranges -> engine.tracker" in proc.stdout

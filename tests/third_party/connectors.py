"""Third-party connectors from PyPI for the tests, each in its own virtualenv.

`installed(CONNECTOR)` returns the connector's `bin/` directory, installing it on first use into
`.venv-connectors/<package>-<version>/` in the repository (git-ignored), so a clean clone (CI) installs
each one once and later runs reuse it. Versions are pinned: the package itself and, through
`constraints/<package>.txt` (the `pip freeze` of a working install), every dependency, so a new
release upstream cannot change what the tests run. Installs are serialized with a file lock (several
pytest processes may share the cache); a failed install leaves no stamp and is retried next time.
Each install's duration is written to `install.log` in its venv (docs/third-party.md lists them).

`python -m tests.third_party.connectors` installs the default suite's connectors (`DEFAULT_SUITE`) that
are missing; tests/conftest.py starts it in the background when third-party tests are selected, so the
installs overlap the rest of the suite (a test that needs one before it is done waits on its lock).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("STRIPE_SYNC_CONNECTOR_CACHE", ROOT / ".venv-connectors"))
CONSTRAINTS = Path(__file__).resolve().parent / "constraints"
INSTALL_TIMEOUT = 900


@dataclass(frozen=True)
class Connector:
    package: str
    version: str
    executable: str  # the console script in bin/

    @property
    def key(self) -> str:
        return f"{self.package}-{self.version}"

    @property
    def constraints(self) -> Path:
        return CONSTRAINTS / f"{self.package}.txt"


FAKER = Connector("airbyte-source-faker", "7.2.1", "source-faker")
AIRBYTE_STRIPE = Connector("airbyte-source-stripe", "5.14.1", "source-stripe")
TAP_STRIPE = Connector("tap-stripe", "3.3.0", "tap-stripe")
TARGET_JSONL = Connector("target-jsonl", "0.1.4", "target-jsonl")
TARGET_DUCKDB = Connector("target-duckdb", "0.8.0", "target-duckdb")
DEFAULT_SUITE = (FAKER, TAP_STRIPE, TARGET_JSONL, TARGET_DUCKDB)  # AIRBYTE_STRIPE: only its slow test


class InstallFailed(RuntimeError):
    pass


def installed(connector: Connector) -> Path:
    """The connector's bin directory; installs it into its own venv when it is not there yet."""
    venv = CACHE / connector.key
    stamp = venv / ".installed"
    if stamp.exists():
        return venv / "bin"
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / f"{connector.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            _install(connector, venv)
            stamp.touch()
    return venv / "bin"


def _install(connector: Connector, venv: Path) -> None:
    shutil.rmtree(venv, ignore_errors=True)
    start = time.monotonic()
    log = CACHE / f"{connector.key}.install.log"
    with open(log, "w") as out:
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                  f"{connector.package}=={connector.version}"]
                 + (["-c", str(connector.constraints)] if connector.constraints.exists() else [])]
        for argv in steps:
            code = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=INSTALL_TIMEOUT,
                                  stdin=subprocess.DEVNULL).returncode
            if code != 0:
                raise InstallFailed(f"installing {connector.key} failed (exit {code}); see {log}")
    if not (venv / "bin" / connector.executable).exists():
        raise InstallFailed(f"{connector.key} installed no {connector.executable!r}; see {log}")
    seconds = time.monotonic() - start
    (venv / "install.log").write_text(f"{connector.key}: installed in {seconds:.1f}s\n")
    print(f"installed {connector.key} in {seconds:.1f}s into {venv}", file=sys.stderr)


def missing(connectors: tuple[Connector, ...] = DEFAULT_SUITE) -> list[Connector]:
    return [c for c in connectors if not (CACHE / c.key / ".installed").exists()]


if __name__ == "__main__":
    failed = 0
    for c in missing():
        try:
            installed(c)
        except InstallFailed as exc:  # the test that needs it fails with this message
            print(exc, file=sys.stderr)
            failed += 1
    sys.exit(1 if failed else 0)

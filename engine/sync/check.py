"""`engine check`: run both connectors' `check` at once and print one verdict.

Each connector prints a `connection_status` (an Airbyte connector its CONNECTION_STATUS, translated; a
Singer tap is checked by `--discover`; a Singer target cannot be checked); the engine prints one line
per connector and a verdict on stderr (what to fix), and one combined `connection_status` message on
stdout. Exit 0 when both succeeded, 2 when a connector refused its config (its own exit 2), else 1.
"""
from __future__ import annotations

import sys
import threading
from typing import BinaryIO

from engine.adapters.base import who
from engine.adapters.protocols import AirbyteSource, SingerSource
from engine.sync.children import ArgFile, ChildResult, describe_failure, run_child
from protocol import messages
from protocol.jsonio import MessageWriter
from protocol.secrets import redact_message, redact_text


def connector_verdict(role: str, result: ChildResult) -> tuple[bool, str]:
    """(ok, one human line) for one connector's check result (pure)."""
    status = next((m["connection_status"] for m in result.messages if m.get("type") == "connection_status"
                   and isinstance(m.get("connection_status"), dict)), None)
    if status is not None and status.get("status") == "succeeded" and result.code == 0:
        return True, f"{role}: OK - {status.get('message', '')}"
    if status is not None and status.get("status") == "failed":
        err = status.get("error") or {}
        code = f"[{err['code']}] " if isinstance(err, dict) and err.get("code") else ""
        return False, f"{role}: FAILED {code}{status.get('message', '')}"
    return False, f"{role}: FAILED " + describe_failure(f"`{role} check`", result)


def foreign_check(role: str, protocol: str, argv: list[str], config: ArgFile, timeout: float) -> ChildResult:
    """`check` of an Airbyte connector (its output translated), `--discover` of a Singer tap; a Singer
    target has no command to check with, which the result says."""
    name = who(role, protocol, argv)
    if protocol == "singer" and role == "destination":
        return ChildResult(0, [messages.connection_status(
            "succeeded", f"{name}: not checked (Singer targets have no check command)")], "")
    if protocol == "singer":
        tap = SingerSource()
        result = run_child(role, tap.discover_argv(argv, config.path), [config], timeout)
        catalog, _ = tap.discovered(result.stdout, name)
        ok = result.code == 0 and catalog is not None
        text = f"{name}: discover listed {len(catalog['streams'])} stream(s)" if catalog else \
            f"{name}: discover failed"
        result.messages = [messages.connection_status("succeeded" if ok else "failed", text)]
        return result
    result = run_child(role, argv + ["check", "--config", config.path], [config], timeout)
    _, result.messages = AirbyteSource().discovered(result.stdout, name)  # its output, translated
    return result


def run_check(source_cmd: list[str], source_config: dict, destination_cmd: list[str],
              destination_config: dict,
              out: BinaryIO, timeout: float = 120.0, source_protocol: str = "native",
              destination_protocol: str = "native") -> int:
    files = {"source": ArgFile(source_config, "source-config"),
             "destination": ArgFile(destination_config, "destination-config")}
    argv = {"source": source_cmd, "destination": destination_cmd}
    protocol = {"source": source_protocol, "destination": destination_protocol}
    results: dict[str, ChildResult] = {}

    def one(role: str) -> None:
        if protocol[role] != "native":
            results[role] = foreign_check(role, protocol[role], argv[role], files[role], timeout)
            return
        argv_check = argv[role] + ["check", "--config", files[role].path]
        results[role] = run_child(role, argv_check, [files[role]], timeout)

    try:
        threads = [threading.Thread(target=one, args=(role,)) for role in ("source", "destination")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for f in files.values():
            f.close()
    verdicts = [connector_verdict(role, results[role]) for role in ("source", "destination")]
    ok = all(v[0] for v in verdicts)
    lines = [text for _, text in verdicts]
    lines.append("verdict: ready to sync" if ok else "verdict: NOT ready; fix the FAILED part above and run "
                                                       "`engine check` again")
    for line in lines:
        print(redact_text(line), file=sys.stderr)
    message = "; ".join(lines)
    writer = MessageWriter(out, redact=redact_message)
    writer.write(messages.connection_status("succeeded" if ok else "failed", message))
    writer.flush()
    if ok:
        return 0
    return 2 if any(results[role].code == 2 for role in results) else 1

"""The live view in real terminals of three sizes: `engine sync` (source-stripe against the emulator,
Issuing not enabled, a real Postgres) draws on a pseudo-terminal, and every chunk of its output is fed
to pyte, a terminal emulator, which renders the screen and keeps what scrolls off it.

Held at 80x24, 100x14 and 200x50, over every chunk of output until the run's summary:
- no frame exceeds the terminal: nothing of a frame ever scrolls into the scrollback (a frame taller
  than the terminal would leave copies of itself there), only the event lines printed above it;
- no line exceeds the terminal's width (checked on the raw output, where a long line cannot hide in a
  wrap);
- skipped streams never show as failed;
and the final frame matches the summary printed after it (records, streams done, skipped).
"""
from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time

import pyte
import pytest
from rich.cells import cell_len

from protocol.jsonio import dumps
from stripe_emulator import start_emulator
from tests.engine.conftest import ROOT

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]"  # CSI: colors, cursor movement, erasing
                     r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]")
FRAME_MARKS = ("elapsed ", "streams ", "requests ", "✓ ", "· ", "– ", "… ", "✗ ", "! ")
SKIPPED = ("issuing_authorizations", "issuing_cardholders", "issuing_cards", "issuing_disputes",
           "issuing_settlements", "issuing_transactions")


class ScrollbackScreen(pyte.Screen):
    """A pyte screen that keeps the lines scrolled off its top (pyte's HistoryScreen does too, but is
    much slower on a 200x50 screen)."""

    def __init__(self, columns: int, lines: int):
        super().__init__(columns, lines)
        self.scrolled: list[str] = []

    def index(self) -> None:
        top, bottom = self.margins or pyte.screens.Margins(0, self.lines - 1)
        if self.cursor.y == bottom:
            row = self.buffer[top]
            self.scrolled.append("".join(row[x].data for x in range(self.columns)).rstrip())
        super().index()


def is_frame_line(line: str) -> bool:
    return line.startswith(FRAME_MARKS) or "░" in line or "█" in line or "▌" in line


def run_in_terminal(columns: int, rows: int, env: dict, argv: list[str]) -> tuple[list[str], str, int]:
    """Run `argv` with stderr on a pty of this size; returns (the screens after every chunk, the raw
    output, the exit code). Checks the scrollback after every chunk."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave,
                            cwd=ROOT, env=env)
    os.close(slave)
    screen = ScrollbackScreen(columns, rows)
    stream = pyte.ByteStream(screen)
    raw, screens = b"", []
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            raw += chunk
            stream.feed(chunk)
            if b"engine: sync" not in raw:  # the run's frames, before its summary
                assert not [s for s in screen.scrolled if is_frame_line(s)], \
                    f"a frame scrolled off a {columns}x{rows} terminal: {screen.scrolled[-5:]}"
            screens.append("\n".join(line.rstrip() for line in screen.display))
    finally:
        os.close(master)
        if proc.poll() is None and b"engine: sync" not in raw:
            proc.kill()
    return screens, raw.decode(errors="replace"), proc.wait(timeout=30)


@pytest.fixture(scope="module")
def emulator():
    with start_emulator({"profile": "small", "not_enabled": ["issuing"]}) as emu:
        yield emu


@pytest.mark.parametrize("columns,rows", [(80, 24), (100, 14), (200, 50)])
def test_live_view_fits_the_terminal_and_matches_the_summary(emulator, pg_url, pg_schema, tmp_path,
                                                             columns, rows):
    config = {"api_key": emulator.api_key, "base_url": emulator.url, "max_requests_per_second": 40,
              "max_concurrent_streams": 12}  # more streams running than a 14-line terminal has rows
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", DATABASE_URL=pg_url, STRIPE_SYNC_STATE_DIR=str(tmp_path))
    argv = [sys.executable, "-m", "engine", "sync", "--source-config", dumps(config).decode(),
            "--schema", pg_schema, "--progress", "live", "--output", "none"]
    screens, raw, code = run_in_terminal(columns, rows, env, argv)
    assert code == 0, raw[-3000:]

    run_output = raw[:raw.index("engine: sync")]
    for piece in re.split(r"[\r\n]", ESCAPES.sub("", run_output)):
        assert cell_len(piece) <= columns, f"a line wider than {columns} columns: {piece!r}"

    assert any("running" in s for s in screens), "no frame showed a running stream"
    for screen in screens:
        for line in screen.splitlines():
            if any(name in line for name in SKIPPED) or "skipped" in line:
                assert "fail" not in line, line
        assert "failed" not in screen, screen

    summary = re.search(r"engine: sync succeeded: ([\d,]+) records", raw)
    assert summary, raw[-2000:]
    final = screens[-1]
    frame = final[:final.index("engine: sync")] if "engine: sync" in final else final
    header = re.findall(r"records ([\d,]+) \(", frame)
    assert header and header[-1] == summary.group(1), frame
    assert "61/61 done" in frame and "6 skipped" in frame, frame
    skipped_line = re.search(r"engine: skipped by the source: (.*)", raw.replace("\r\n", "\n"), re.S)
    assert skipped_line and all(name in skipped_line.group(1).replace("\n", "") for name in SKIPPED)

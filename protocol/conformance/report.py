"""The pass/fail report of the conformance kit: named checks, each remembering its first offence.

A `Check` starts as passed; `fail()` records the first offending line (number, reason, excerpt) and
counts later ones; `skip()` marks a check that could not run (and says why). `Report.format()` prints one
line per check and a summary. Excerpts go through `Report.mask` so the report itself never prints a
secret it was looking for.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
EXCERPT_CHARS = 100


@dataclass
class Check:
    name: str
    status: str = PASS
    reason: str = ""
    line_no: int | None = None
    excerpt: str = ""
    more: int = 0  # offences after the first one

    def fail(self, reason: str, line_no: int | None = None, excerpt: str = "") -> None:
        if self.status == FAIL:
            self.more += 1
            return
        self.status, self.reason, self.line_no, self.excerpt = FAIL, reason, line_no, excerpt

    def skip(self, reason: str) -> None:
        if self.status == PASS:
            self.status, self.reason = SKIP, reason

    def note(self, reason: str) -> None:
        """Attach an explanation to a passing check (e.g. what was verified)."""
        if self.status == PASS:
            self.reason = reason


@dataclass
class Report:
    title: str = ""
    secrets: list[str] = field(default_factory=list)
    checks: dict[str, Check] = field(default_factory=dict)

    def check(self, name: str) -> Check:
        """The check called `name`, created (passing) on first use so it is listed in order."""
        if name not in self.checks:
            self.checks[name] = Check(name)
        return self.checks[name]

    def fail(self, name: str, reason: str, line_no: int | None = None, raw: bytes | str = b"") -> None:
        excerpt = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
        self.check(name).fail(self.mask(reason), line_no, _shorten(self.mask(excerpt)))

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "****")
        return text

    def by_status(self, status: str) -> list[Check]:
        return [c for c in self.checks.values() if c.status == status]

    @property
    def passed(self) -> bool:
        return not self.by_status(FAIL)

    def format(self) -> str:
        lines = [f"conformance: {self.title}"] if self.title else []
        lines += [format_check(c) for c in self.checks.values()]
        counts = ", ".join(f"{len(self.by_status(s))} {w}" for s, w in
                           ((PASS, "passed"), (FAIL, "failed"), (SKIP, "skipped")))
        lines.append(f"result: {'PASS' if self.passed else 'FAIL'} ({counts})")
        return "\n".join(lines)


def format_check(check: Check) -> str:
    """One report line: status, name, then for a failure where and why, with an excerpt."""
    text = f"{check.status}  {check.name}"
    detail = ""
    if check.line_no is not None:
        detail = f"line {check.line_no}: "
    detail += check.reason
    if check.excerpt:
        detail += f" | {check.excerpt}"
    if check.more:
        detail += f" (+{check.more} more)"
    return f"{text} -- {detail}" if detail else text


def _shorten(text: str) -> str:
    text = text.rstrip("\r\n").replace("\n", "\\n")
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS] + "..."

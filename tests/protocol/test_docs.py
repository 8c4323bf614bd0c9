"""docs/protocol.md and docs/conformance.md cannot drift: every message type and payload field of
specs/protocol is described, every example validates, and every command shown really works."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from protocol import messages
from protocol.conformance.checks import EchoChecker, ReadChecker
from protocol.jsonio import loads
from protocol.validate import MessageValidator, load_protocol_schemas

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL_MD = (ROOT / "docs" / "protocol.md").read_text()
CONFORMANCE_MD = (ROOT / "docs" / "conformance.md").read_text()


def code_blocks(text: str, lang: str) -> list[str]:
    """The contents of the fenced blocks of a language ("" for blocks without one)."""
    blocks, current, current_lang = [], None, ""
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, current_lang = [], line[3:].strip()
            else:
                if current_lang == lang:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def payload_fields() -> dict[str, set[str]]:
    """Field names per schema part: message payloads, trace kinds and the shared definitions."""
    schemas = load_protocol_schemas()
    fields: dict[str, set[str]] = {}
    for name in messages.MESSAGE_TYPES:
        fields[name] = set(schemas[name]["properties"][name].get("properties", {}))
    trace = schemas["trace"]["properties"]["trace"]["properties"]
    for kind in ("stream_status", "estimate", "snapshot", "candidates", "verify"):
        fields[f"trace.{kind}"] = set(trace[kind]["properties"])
    for name, definition in schemas["common"]["$defs"].items():
        fields[f"common.{name}"] = set(definition.get("properties", {}))
    fields["catalog.streams[]"] = set(schemas["catalog"]["properties"]["catalog"]["properties"]["streams"]
                                      ["items"]["properties"])
    spec_props = schemas["spec"]["properties"]["spec"]["properties"]
    fields["spec.connector"] = set(spec_props["connector"]["properties"])
    fields["aggregate_state"] = set(schemas["aggregate_state"]["properties"])
    for name in ("state_description", "table_stats"):  # the optional describe and stats commands
        top = schemas[name]["properties"]
        fields[name] = set(top) | set(top["streams"]["additionalProperties"]["properties"])
    described = schemas["state_description"]["properties"]
    fields["state_description.global"] = set(described["global"]["properties"])
    return fields


def test_protocol_doc_mentions_every_message_type_and_field():
    missing = [f"{where}: {field}" for where, names in payload_fields().items() for field in sorted(names)
               if f"`{field}`" not in PROTOCOL_MD]
    missing += [f"type {t}" for t in messages.MESSAGE_TYPES if f"### `{t}`" not in PROTOCOL_MD]
    assert not missing, "docs/protocol.md does not describe: " + ", ".join(missing)


def test_protocol_doc_examples_validate_and_cover_every_type():
    validator = MessageValidator(full=True)
    seen = set()
    lines = [line for block in code_blocks(PROTOCOL_MD, "json") for line in block.splitlines()
             if line.strip()]
    for line in lines:
        msg = loads(line)
        assert validator.errors(msg) == [], line
        seen.add(msg["type"])
    assert seen == set(messages.MESSAGE_TYPES)


@pytest.mark.parametrize("doc", ["protocol.md", "conformance.md"])
def test_python_examples_run(doc):
    text = PROTOCOL_MD if doc == "protocol.md" else CONFORMANCE_MD
    for block in code_blocks(text, "python"):
        exec(compile(block, doc, "exec"), {})  # noqa: S102 - our own documentation


def console_commands() -> list[tuple[str, int]]:
    commands = []
    for block in code_blocks(CONFORMANCE_MD, "console"):
        for line in block.splitlines():
            if line.startswith("$ "):
                expected = re.search(r"#\s*exit (\d+)\s*$", line)
                commands.append((line[2:], int(expected.group(1)) if expected else 0))
    return commands


@pytest.mark.parametrize("command,expected", console_commands())
def test_conformance_doc_commands_work(command, expected):
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["sh", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == expected, proc.stdout + proc.stderr
    if "source_broken.sh" in command:  # the output shown in the doc is the real one
        shown = [line for block in code_blocks(CONFORMANCE_MD, "") for line in block.splitlines()
                 if line.startswith(("FAIL  ", "result: "))]
        assert shown and all(line in proc.stdout.splitlines() for line in shown), proc.stdout


def test_conformance_doc_shell_listing_is_the_real_fake_source():
    (listing,) = code_blocks(CONFORMANCE_MD, "sh")
    assert listing == (ROOT / "tests" / "protocol" / "fakes" / "source_ok.sh").read_text()


def test_conformance_doc_lists_every_check():
    from protocol.conformance import Options, check_destination, check_source

    fakes = ROOT / "tests" / "protocol" / "fakes"
    names = set(check_source(["sh", str(fakes / "source_ok.sh")], Options(config="{}")).checks)
    names |= set(check_destination(["sh", str(fakes / "destination_ok.sh")], Options(config="{}")).checks)
    names |= {getattr(cls, attr) for cls in (ReadChecker, EchoChecker) for attr in dir(cls)
              if attr.isupper() and isinstance(getattr(cls, attr), str)}
    missing = sorted(n for n in names if f"`{n}`" not in CONFORMANCE_MD
                     and f"`{re.sub(r'^[a-z]+: ', '<cmd>: ', n)}`" not in CONFORMANCE_MD)
    assert not missing, "docs/conformance.md does not list: " + ", ".join(missing)

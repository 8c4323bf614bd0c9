"""Generate docs/configuration.md from the connectors' config schemas in specs/connectors/.

Run `python -m scripts.gen_config_reference` after changing a config schema; a test fails while the
committed reference differs from what this prints, so the docs cannot drift from the schemas.
"""
from __future__ import annotations

import sys
from pathlib import Path

from protocol.jsonio import dumps
from specs import CONNECTORS_DIR
from protocol.config import connector_config_schema

OUT = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"

HEADER = """# Configuration reference

Generated from `specs/connectors/*.json` by `python -m scripts.gen_config_reference`; do not edit by hand.
A config is a JSON object given as a file path or inline JSON: `--config config.json` or
`--config '{"api_key": "sk_test_..."}'`. Unknown fields are refused with the field's name; fields marked
secret are masked (`****`) in every log, error, progress line and state.
"""


def _type_text(prop: dict) -> str:
    typ = prop.get("type", "any")
    text = " or ".join(typ) if isinstance(typ, list) else str(typ)
    if prop.get("type") == "array" and isinstance(prop.get("items"), dict):
        text += f" of {prop['items'].get('type', 'any')}"
    return text


def render_connector(name: str, schema: dict) -> str:
    required = set(schema.get("required", []))
    lines = [f"## {name}", "", schema.get("description", schema.get("title", "")), "",
             "| field | type | required | default | description |", "|---|---|---|---|---|"]
    for field, prop in schema.get("properties", {}).items():
        default = f"`{dumps(prop['default']).decode()}`" if "default" in prop else ""
        desc = prop.get("description", "").replace("|", "\\|")
        if prop.get("secret"):
            desc = "**Secret.** " + desc
        lines.append(f"| `{field}` | {_type_text(prop)} | {'yes' if field in required else ''} | "
                     f"{default} | {desc} |")
    return "\n".join(lines) + "\n"


def render() -> str:
    names = sorted(p.stem for p in CONNECTORS_DIR.glob("*.json"))
    return HEADER + "\n" + "\n".join(render_connector(n, connector_config_schema(n)) for n in names)


def main() -> None:
    text = render()
    if "--check" in sys.argv:
        sys.exit(0 if OUT.exists() and OUT.read_text() == text else 1)
    OUT.write_text(text)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

"""Secret references resolved on a worker (docs/temporal.md, "Secrets"): the only place that turns a
reference into a value.

- `env:NAME`: a variable of the worker's environment. `WorkerSecrets.from_environ` takes every variable
  whose name looks secret (`protocol.secrets.looks_secret`: KEY, SECRET, PASSWORD, TOKEN, URL, ...;
  libpq's own `PG*` variables stay, destination-postgres reads them) OUT of the process environment
  at start, so the connectors a worker starts never see them.
- `file:/path#key`: the string at `key` of a JSON object in a file on the worker, read again at every
  activity, so a rotated key needs no worker restart (fix the file, resume the workflow).

A missing variable, file or key is a `ConfigError` naming the reference (never a value): permanent, so
the workflow parks with that reason. Every value resolved is registered for redaction at once.
"""
from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from engine.sync.configs import register_all_secrets
from engine.temporal.spec import SyncSpec, bad_references, set_field
from protocol.errors import ConfigError
from protocol.jsonio import JSONDecodeError, loads
from protocol.secrets import looks_secret, register_secret

# a command naming one of our connectors (`source-stripe`, `python -m source_stripe`): its config schema
SCHEMAS = {"source-stripe": "source-stripe", "source_stripe": "source-stripe",
           "destination-postgres": "destination-postgres", "destination_postgres": "destination-postgres"}


def config_schema_name(cmd: str) -> str | None:
    """The config schema of the connector a command names, when it is one of ours (pure)."""
    return next((SCHEMAS[b] for b in map(os.path.basename, cmd.split()) if b in SCHEMAS), None)


class WorkerSecrets:
    def __init__(self, env: dict[str, str]):
        self.env = env

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> WorkerSecrets:
        """The secret-looking variables, removed from `environ` (default: this process's)."""
        environ = os.environ if environ is None else environ
        taken = {name: environ.pop(name) for name in list(environ)
                 if looks_secret(name) and not name.startswith("PG")}
        for value in taken.values():
            register_secret(value)
        return cls(taken)

    def resolve(self, ref: str) -> str:
        kind, _, rest = ref.partition(":")
        if kind == "env":
            if rest not in self.env:
                raise ConfigError(f"secret reference {ref}: the worker has no environment variable {rest}",
                                  hint=f"start every worker with {rest} set")
            return self.env[rest]
        path, _, key = rest.partition("#")
        try:
            data = loads(Path(path).read_bytes())
        except OSError as exc:
            raise ConfigError(f"secret reference {ref}: cannot read {path} on this worker "
                              f"({exc.strerror})") from None
        except JSONDecodeError:
            raise ConfigError(f"secret reference {ref}: {path} is not a JSON object") from None
        value = data.get(key) if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise ConfigError(f"secret reference {ref}: {path} has no string at {key!r}")
        return value

    def configs(self, spec: SyncSpec) -> tuple[dict, dict]:
        """(source config, destination config) of `spec` with its references resolved; every secret
        registered for redaction before anything can print it."""
        problems = bad_references(spec.secrets)
        if problems:
            raise ConfigError("bad secret reference(s): " + "; ".join(problems))
        configs = {"source": dict(spec.source_config), "destination": dict(spec.destination_config)}
        for target, ref in sorted(spec.secrets.items()):
            role, _, dotted = target.partition(".")
            value = self.resolve(ref)
            register_secret(value)
            configs[role] = set_field(configs[role], dotted, value)
        for role, cmd in (("source", spec.source_cmd), ("destination", spec.destination_cmd)):
            register_all_secrets(configs[role], config_schema_name(cmd))
        return configs["source"], configs["destination"]

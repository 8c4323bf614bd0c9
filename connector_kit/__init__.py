"""Building blocks for protocol executables written in Python (docs/architecture.md, "Layers").

`connector.py` (what a connector supplies: `Connector`, `ReadRequest`, `WriteRequest`), `cli.py` (the
click scaffolding every connector shares), `checkpoints.py` (a destination's checkpoint fences, commit
scheduling and echoes, independent of the database) and `backoff.py` (the one retry delay formula).
Depends only on `protocol`; connectors and the engine build on it, never the other way round.
"""

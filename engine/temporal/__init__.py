"""Syncs as Temporal workflows (docs/temporal.md): `engine worker`, `engine submit`, `engine resume`,
`engine status --temporal`. Needs the `temporal` extra (temporalio)."""

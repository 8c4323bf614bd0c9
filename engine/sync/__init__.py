"""`engine sync` and `engine check`: connectors as child processes (docs/engine.md, docs/architecture.md).

The library entry is `run.SyncRun` (or `run_sync` for the CLI): the same code serves the click command
and would serve a worker or an HTTP server. Modules, outside in: `run.py` (load state, fail early,
stop), `session.py` (the destination, the Processor and the attempt loop), `attempt.py` (one source
attempt), `destination.py` (the destination process and its sink), `confirmations.py` (echoes ->
confirmed state, in a thread), `confirmed.py` (generation tags, whether an attempt moved data: pure),
`restart.py` (the restart policy: pure), `outcome.py` (how a run ended, in words: pure), `output.py`
(messages, view, notices), `children.py` (processes, in-memory argument files), `state_store.py`
(state file, totals), `configs.py` (configs from options and the environment), `check.py`
(`engine check`), `options.py`.
"""

"""Adapters for other connector protocols (Airbyte, Singer): pure translation to and from ours.

`airbyte.py` and `singer.py` each translate one ecosystem's messages, catalogs and state in both
directions; `base.py` holds what they share (the translator interfaces, the line wrapper, times);
`protocols.py` says how each protocol's connectors are invoked (command forms, where catalog and state
go). Nothing here does I/O: `engine.pipe` and `engine.sync` plug the translators between a child's
stdout and the Processor, and before the destination's stdin (docs/third-party.md).
"""

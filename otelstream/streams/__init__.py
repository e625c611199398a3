"""Stage 3, live streams: lifecycle events -> the ``events`` and ``debug`` stream modes.

The hub (``hub``) routes a followed run's lifecycle events to its bounded subscriptions
(``subscription``); the format rules (``formats``) shape them exactly as ``astream_events``
v2 and LangGraph's ``debug`` mode do, for live streams and for replays of exported traces
(``replay``) alike; ``api`` and ``merge`` are the entry points callers use.
"""

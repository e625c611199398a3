"""Stage 1, capture: runtime hooks -> lifecycle events.

wrapt hooks on LangChain and LangGraph, the callback handler that translates callbacks into
``astream_events`` v2 lifecycle events, and the taps on output streams and graph loops.
Imported only when otelstream instruments (it imports LangChain), but for ``demand``: the
small protocol the live streams implement for the hooks, free of LangChain.
"""

"""The run recorder: every root graph run, from its first event, into the history store.

A hub watcher: asked at each root run's start (and, before it, whether its models must
stream), it follows the graph runs its filter keeps with a subscription of its own. That
subscription is the in-process subscriber's (same format rules), with ``subgraphs`` on,
LangGraph's ``values``/``updates``/``messages`` chunks taken from the run's loops and
``custom`` from its recorded ``StreamWriter`` writes. Instead of buffering, each item is
serialized (``wire.py``) and appended to the store on the graph's thread, so a client that
joins late, or after the end, gets the whole run.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from otelstream import lifecycle
from otelstream import semconv as sc
from otelstream.errors import report_failure
from otelstream.lifecycle import LifecycleEvent, RunInfo
from otelstream.server import store as st
from otelstream.server.wire import (
    CUSTOM,
    DEBUG,
    ERROR,
    EVENTS,
    MESSAGES,
    METADATA,
    WirePolicy,
    dumpb,
)
from otelstream.spans import outcome
from otelstream.streams.hub import SubscriberHub
from otelstream.streams.subscription import Subscription

RecordFilter = Callable[[str, "str | None"], bool]
"""``record(graph_name, thread_id) -> bool``: whether to record a root graph run."""


def thread_of(run_id: str, thread_id: Any) -> str:
    """The thread a run is served under: its ``thread_id``, or for a run without one a
    thread of its own whose id is the run id."""
    return run_id if thread_id is None else str(thread_id)


class RunRecorder:
    """Records the root graph runs ``record`` keeps (all by default) into ``store``."""

    def __init__(
        self,
        hub: SubscriberHub,
        store: st.HistoryStore,
        policy: WirePolicy,
        record: RecordFilter | None = None,
    ) -> None:
        self._hub = hub
        self._store = store
        self._policy = policy
        self._record = record
        self._lock = threading.Lock()
        self._active: dict[UUID, _Recording] = {}  # until their runs end (the hub's
        # set of subscriptions waiting for a run is weak)
        hub.add_watcher(self)

    def close(self) -> None:
        """Stop recording new runs (runs being recorded finish recording)."""
        self._hub.remove_watcher(self)

    def _keeps(self, name: str | None, thread_id: str | None) -> bool:
        if self._record is None:
            return True
        try:
            return bool(self._record(name or "", thread_id))
        except Exception as exc:
            report_failure("record filter", exc)
            return False

    # -- Watcher ---------------------------------------------------------------------------
    def wants_tokens(self, thread_id: str | None, run_id: UUID | None, graph: str | None) -> bool:
        return graph is not None and self._keeps(graph, thread_id)  # graph runs only

    def watch(self, root: RunInfo) -> None:
        if root.graph_operation is None:  # not a graph run
            return
        thread_id = root.metadata.get("thread_id")
        if not self._keeps(root.name, None if thread_id is None else str(thread_id)):
            return
        run_id = str(root.run_id)
        record = st.RunRecord(
            run_id=run_id,
            thread_id=thread_of(run_id, thread_id),
            graph=root.name,
            created_at=time.time(),
            metadata=_json_safe(root.metadata),
        )
        self._store.open_run(record)
        self._store.append(run_id, METADATA, dumpb({"run_id": run_id, "attempt": 1}))
        recording = _Recording(self, root.run_id)
        with self._lock:
            self._active[root.run_id] = recording

    def _done(self, run_id: UUID) -> None:
        with self._lock:
            self._active.pop(run_id, None)


def _json_safe(metadata: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(dumpb(metadata))
    except Exception:
        return {}
    return value if isinstance(value, dict) else {}


class _Recording(Subscription):
    """One recorded run: the subscriber's items, serialized into the store as they come."""

    graph_modes = frozenset({"values", "updates", MESSAGES})
    """From the run's loops (``messages`` from LangGraph's own handler on the run); ``custom``
    comes from the recorded ``StreamWriter`` writes."""

    def __init__(self, recorder: RunRecorder, run_id: UUID) -> None:
        super().__init__(
            recorder._hub,
            thread_id=None,
            run_id=run_id,
            modes=(EVENTS, DEBUG),
            max_buffer=1,
            subgraphs=True,
        )
        self._recorder = recorder
        self._uuid = run_id
        self._key = str(run_id)
        self._interrupted = False
        self._finished = False

    def on_event(self, ev: LifecycleEvent) -> None:
        if ev.phase == lifecycle.CUSTOM_WRITE:
            # LangGraph names a write by the namespace of the graph its task runs in
            task_ns = str(ev.run.metadata.get("langgraph_checkpoint_ns") or "")
            self.deliver((CUSTOM, (tuple(task_ns.split("|")[:-1]), ev.data)))
            return
        if ev.phase == lifecycle.ERROR and outcome.is_interrupt(ev.error):
            self._interrupted = True
        super().on_event(ev)

    def deliver(self, item: Any) -> None:
        """Serialize and store one ``(mode, item)``; never raises into the run."""
        try:
            mode, payload = item
            event, data = self._recorder._policy.item(mode, payload)
            self._recorder._store.append(self._key, event, data)
        except Exception as exc:
            report_failure("run recorder", exc)

    def finish(self, error: BaseException | None = None) -> None:
        if self._finished:
            return
        self._finished = True
        store, policy = self._recorder._store, self._recorder._policy
        try:
            if error is None:
                status = st.INTERRUPTED if self._interrupted else st.SUCCESS
            else:  # cancelled runs are interrupted too, as on the Platform
                status = _STATUS.get(outcome.classify(error, self._interrupted)[0], st.INTERRUPTED)
            failure = None
            if status == st.ERROR and error is not None:
                data = policy.error(error)
                store.append(self._key, ERROR, data)
                failure = json.loads(data)
            store.close_run(self._key, status, failure)
        except Exception as exc:
            report_failure("run recorder", exc)
        finally:
            self._recorder._done(self._uuid)
            self.close()


_STATUS = {sc.OUTCOME_SUCCESS: st.SUCCESS, sc.OUTCOME_ERROR: st.ERROR}

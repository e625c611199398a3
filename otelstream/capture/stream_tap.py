"""The stream tap: runs' output streams -> ``on_*_stream`` lifecycle events.

LangChain hands a run's output iterator to the first "streaming" callback handler it finds
(``tap_output_iter``/``tap_output_aiter``), exactly as it does for ``astream_events``; the tap
passes every chunk through untouched and reports it as the run's stream event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, TypeVar
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.tracers._streaming import _StreamingCallbackHandler

from otelstream.capture.callback_handler import OtelStreamCallbackHandler
from otelstream.errors import report_failure
from otelstream.lifecycle import RunInfo

T = TypeVar("T")


class StreamTap(BaseCallbackHandler, _StreamingCallbackHandler):  # type: ignore[type-arg]
    """Taps runs' output streams into ``on_*_stream`` events, as ``astream_events`` does.

    Being a streaming handler is what makes LangChain stream a chat model called with
    ``.invoke()``; so it is attached only to runs that asked for tokens (a live ``events``
    subscriber, or the ``capture_tokens`` opt-in). It ignores every other callback.
    """

    run_inline = True
    raise_error = False
    ignore_llm = ignore_chain = ignore_agent = ignore_retriever = True
    ignore_chat_model = ignore_custom_event = ignore_retry = True

    def __init__(self, handler: OtelStreamCallbackHandler) -> None:
        super().__init__()
        self._handler = handler

    def __copy__(self) -> StreamTap:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> StreamTap:
        return self

    # As astream_events: the first tap of a run claims it before its first chunk (the run
    # may not have started yet), so its chunks come from that tap alone, not from another tap
    # of the same run nor from token callbacks.
    def tap_output_iter(self, run_id: UUID, output: Iterator[T]) -> Iterator[T]:
        if not self._claim(run_id):
            yield from output
            return
        try:
            sentinel: Any = object()
            first = next(output, sentinel)
            if first is sentinel:
                return
            run = self._run(run_id)  # looked up once the run has started
            if run is None:
                yield first
                yield from output
                return
            self._chunk(run, first)
            yield first
            for chunk in output:
                self._chunk(run, chunk)
                yield chunk
        finally:
            self._release(run_id)

    async def tap_output_aiter(self, run_id: UUID, output: AsyncIterator[T]) -> AsyncIterator[T]:
        if not self._claim(run_id):
            async for chunk in output:
                yield chunk
            return
        try:
            sentinel: Any = object()
            first = await anext(output, sentinel)
            if first is sentinel:
                return
            run = self._run(run_id)  # looked up once the run has started
            if run is None:
                yield first
                async for chunk in output:
                    yield chunk
                return
            self._chunk(run, first)
            yield first
            async for chunk in output:
                self._chunk(run, chunk)
                yield chunk
        finally:
            self._release(run_id)

    # The user's stream passes through untouched whatever happens here (fail-open).
    def _claim(self, run_id: UUID) -> bool:
        try:
            return self._handler.claim_tap(run_id)
        except Exception as exc:
            report_failure("stream tap", exc)
            return False

    def _release(self, run_id: UUID) -> None:
        try:
            self._handler.release_tap(run_id)
        except Exception as exc:
            report_failure("stream tap", exc)

    def _run(self, run_id: UUID) -> RunInfo | None:
        try:
            return self._handler.run(run_id)
        except Exception as exc:
            report_failure("stream tap", exc)
            return None

    def _chunk(self, run: RunInfo, chunk: Any) -> None:
        try:
            self._handler.emit_chunk(run, chunk)
        except Exception as exc:
            report_failure("stream tap", exc)

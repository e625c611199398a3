"""How a run ended: success, error, interrupt or cancellation, and what each leaves on a span.

LangGraph's ``interrupt()`` and ``Command`` to a parent graph travel as exceptions
(``GraphInterrupt``, ``GraphBubbleUp``), and a consumer that stops iterating cancels the run
(``GeneratorExit``, ``CancelledError``): none of them is an error. Real errors set the ERROR
status and an ``exception`` event whose message honours the content policy.
"""

from __future__ import annotations

import traceback
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from otelstream import semconv as sc
from otelstream.serialization import safe_text
from otelstream.spans.content import Content, Marks

_CANCELLATIONS = ("GeneratorExit", "CancelledError")


def _class_names(error: BaseException) -> set[str]:
    return {c.__name__ for c in type(error).__mro__}


def is_interrupt(error: BaseException | None) -> bool:
    """Whether a run ended in LangGraph's ``GraphInterrupt`` (a pause, not a failure),
    told by class name so that LangGraph need not be imported."""
    return error is not None and "GraphInterrupt" in _class_names(error)


def classify(error: BaseException | None, interrupted: bool) -> tuple[str, str | None]:
    """The outcome of a run that raised ``error`` and, for errors, the ``error.type``.
    ``interrupted``: an interrupt inside the run already passed through it."""
    names = _class_names(error) if error is not None else set()
    if "GraphInterrupt" in names:
        return sc.OUTCOME_INTERRUPTED, None
    if "GraphBubbleUp" in names:  # control flow (Command to a parent graph)
        return (sc.OUTCOME_INTERRUPTED if interrupted else sc.OUTCOME_SUCCESS), None
    if names.intersection(_CANCELLATIONS):
        return sc.OUTCOME_CANCELLED, None
    return sc.OUTCOME_ERROR, type(error).__qualname__ if error is not None else None


def record_error(
    span: Span, content: Content, marks: Marks, error: BaseException, time_ns: int
) -> None:
    """ERROR status and an ``exception`` event (as the SDK's ``record_exception``). The
    message and stacktrace go through the redaction hook and the length limit; with content
    capture off, messages (which often quote payloads) are left out."""
    kind = type(error).__qualname__
    module = type(error).__module__
    qualified = kind if module in ("builtins", "__main__") else f"{module}.{kind}"
    if content.capture:
        message = content.scrub(marks, "error", safe_text(error))
        stacktrace = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        description = f"{kind}: {message}"
    else:
        message = sc.REDACTED
        stacktrace = "".join(traceback.format_tb(error.__traceback__)) + qualified
        description = kind
    span.set_status(Status(StatusCode.ERROR, content.text(marks, "error", description)))
    span.set_attribute(sc.ERROR_TYPE, kind)
    span.add_event(
        "exception",
        {
            sc.EXCEPTION_TYPE: qualified,
            sc.EXCEPTION_MESSAGE: message,
            sc.EXCEPTION_STACKTRACE: content.scrub(marks, "error", stacktrace),
            sc.EXCEPTION_ESCAPED: "False",
        },
        timestamp=time_ns,
    )


def record_interrupts(
    span: Span, content: Content, marks: Marks, error: BaseException, time_ns: int
) -> int:
    """One ``langgraph.interrupt`` event per interrupt a ``GraphInterrupt`` carries; their count."""
    interrupts: Any = error.args[0] if error.args else ()
    if not isinstance(interrupts, (list, tuple)):
        interrupts = (interrupts,)
    for item in interrupts:
        attrs: dict[str, Any] = {
            sc.LG_INTERRUPT_VALUE: content.payload(marks, "interrupt", getattr(item, "value", item))
        }
        interrupt_id = getattr(item, "id", None) or getattr(item, "interrupt_id", None)
        if interrupt_id:
            attrs[sc.LG_INTERRUPT_ID] = str(interrupt_id)
        span.add_event(sc.EVENT_INTERRUPT, attrs, timestamp=time_ns)
    span.set_attribute(sc.LG_INTERRUPTED, True)
    return len(interrupts)

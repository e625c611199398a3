"""Payloads as exported: the content switch, the redaction hook, and the length limit.

Everything a span carries that came from user data (inputs, outputs, chunks, custom and
interrupt payloads, metadata, error messages) goes through here, so the content policy is
applied in one place: with capture off a payload is exported as ``"[redacted]"``; with it
on, its JSON form goes through ``redact(key, text)`` and is cut to ``max_attribute_length``
with a visible marker, and the cut attribute's key is listed in ``otelstream.truncated``.
Metadata and error messages are not payloads (``scrub``): they go through the redaction
hook and the limit whatever the capture switch says.
"""

from __future__ import annotations

import json
from typing import Any

from otelstream import semconv as sc
from otelstream.config import Settings
from otelstream.errors import report_failure
from otelstream.serialization import bound, dumps, dumps_within, safe_text


class Marks:
    """Keys of the attributes of one span cut by the length limit (``otelstream.truncated``)."""

    __slots__ = ("truncated",)

    def __init__(self) -> None:
        self.truncated: list[str] = []


class Content:
    """The content policy of one ``instrument()`` call."""

    __slots__ = ("_limit", "_redact", "capture")

    def __init__(self, settings: Settings) -> None:
        self.capture = settings.capture_content
        self._redact = settings.redact
        self._limit = settings.max_attribute_length

    def payload(self, marks: Marks | None, key: str, value: Any) -> str:
        """The exported form of a payload: JSON, redacted, bounded; or a redaction marker."""
        if not self.capture:
            return sc.REDACTED
        return self.scrub(marks, key, dumps(value))

    def text_payload(self, marks: Marks | None, key: str, value: Any) -> str:
        """A payload recorded as text when it is text (a query, a tool's result), else as
        JSON; redacted and bounded like ``payload``."""
        if not self.capture:
            return sc.REDACTED
        return self.scrub(marks, key, value if isinstance(value, str) else dumps(value))

    def scrub(self, marks: Marks | None, key: str, text: str) -> str:
        """Apply the user's redaction hook, then the length limit."""
        redacted = self._redacted(key, text)
        return sc.REDACTED if redacted is None else self.text(marks, key, redacted)

    def json_payload(self, marks: Marks | None, key: str, value: Any) -> str:
        """A payload backends parse (GenAI messages, documents, tool definitions): like
        ``payload``, but a cut keeps it valid JSON (long strings inside are cut, then the
        oldest list items left out; see ``dumps_within``)."""
        if not self.capture:
            return sc.REDACTED
        text = self._redacted(key, dumps(value))
        if text is None:
            return sc.REDACTED
        if len(text) <= self._limit:
            return safe_text(text)
        try:
            parsed = json.loads(text)
        except ValueError:  # the hook made it plain text: cut it as text
            return self.text(marks, key, text)
        fitted, _ = dumps_within(parsed, self._limit)
        if marks is not None and key not in marks.truncated:
            marks.truncated.append(key)
        return fitted

    def _redacted(self, key: str, text: str) -> str | None:
        """``text`` after the user's redaction hook; None if the hook failed."""
        redact = self._redact
        if redact is None:
            return text
        try:
            return str(redact(key, text))
        except Exception as exc:  # never export what the hook failed to scrub
            report_failure("redaction hook", exc)
            return None

    def text(self, marks: Marks | None, key: str, value: str) -> str:
        """A string attribute, valid UTF-8 and cut to the length limit."""
        text, cut = bound(safe_text(value), self._limit)
        if cut and marks is not None and key not in marks.truncated:
            marks.truncated.append(key)
        return text

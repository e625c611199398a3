"""OTLP/JSON file exporters: the format the Collector's ``file`` exporter writes and its
``otlpjsonfile`` receiver reads, so a file can be shipped to any backend unchanged.

Each export appends one line: an ``ExportTraceServiceRequest`` or
``ExportMetricsServiceRequest`` in OTLP/JSON (protobuf JSON with lowerCamelCase keys, enums as
integers, and trace and span ids as hex, as the OTLP specification requires). The encoding is
OpenTelemetry's own protobuf encoder; only the id fields are rewritten.

The file looks after itself: past ``OTELSTREAM_FILE_MAX_BYTES`` it is rotated as
``otlp.jsonl.1`` (older ones shift to ``.2`` ...; ``OTELSTREAM_FILE_BACKUPS`` are kept).
Processes sharing the file take an exclusive ``flock`` on ``<file>.lock`` around each append
and rotation, so lines never interleave and a rotation never loses one.
"""

from __future__ import annotations

import base64
import contextlib
import glob
import json
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from otelstream.config import ConfigurationError
from otelstream.errors import report_failure

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: one process per file
    fcntl = None  # type: ignore[assignment]

_logger = logging.getLogger(__name__)

FILE_ENV = "OTELSTREAM_FILE"
MAX_BYTES_ENV = "OTELSTREAM_FILE_MAX_BYTES"
BACKUPS_ENV = "OTELSTREAM_FILE_BACKUPS"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
DEFAULT_BACKUPS = 3
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def default_path() -> Path:
    """``$OTELSTREAM_FILE``, else ``otlp.jsonl`` in the user's state directory."""
    configured = os.environ.get(FILE_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME", "").strip() or Path.home() / ".local" / "state"
    return Path(state) / "otelstream" / "otlp.jsonl"


def _env_count(name: str, default: int, accepted: str) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigurationError(name, raw, accepted)
    return int(raw)


def rotation_from_env() -> tuple[int, int]:
    """``(max_bytes, backups)`` from ``OTELSTREAM_FILE_MAX_BYTES`` and ``..._BACKUPS``."""
    max_bytes = _env_count(
        MAX_BYTES_ENV, DEFAULT_MAX_BYTES, "a whole number of bytes (0: never rotate)"
    )
    return max_bytes, _env_count(BACKUPS_ENV, DEFAULT_BACKUPS, "a whole number (0 or more)")


def rotated_files(path: str | os.PathLike[str]) -> list[Path]:
    """``path`` and its rotated files that exist, oldest first (``.3``, ``.2``, ``.1``, then
    ``path``)."""
    path = Path(path)
    numbered = []
    for sibling in glob.glob(glob.escape(str(path)) + ".*"):
        suffix = sibling[len(str(path)) + 1 :]
        if suffix.isdigit():
            numbered.append((int(suffix), Path(sibling)))
    files = [file for _, file in sorted(numbered, reverse=True)]
    return [*files, path] if path.exists() else files


def to_otlp_json(message: Message) -> dict[str, Any]:
    """A protobuf OTLP request as its OTLP/JSON object."""
    return _hex_ids(MessageToDict(message, use_integers_for_enums=True))  # type: ignore[no-any-return]


def _hex_ids(value: Any) -> Any:
    """Protobuf JSON writes ``bytes`` ids as base64; OTLP/JSON wants them as hex."""
    if isinstance(value, dict):
        return {
            k: base64.b64decode(v).hex() if k in _ID_KEYS and isinstance(v, str) else _hex_ids(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(v) for v in value]
    return value


@contextlib.contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``lock_path``, shared with every process using the file
    (opened per use: a descriptor inherited across ``fork`` would share the lock)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
        yield
    finally:
        os.close(fd)


class OtlpJsonFile:
    """An append-only OTLP/JSON lines file, shared by the span and metric exporters (and by
    other processes): rotated past ``max_bytes``, keeping ``backups`` old files."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int | None = None,
        backups: int | None = None,
    ) -> None:
        self.path = Path(path)
        env_max, env_backups = rotation_from_env()
        self.max_bytes = env_max if max_bytes is None else max_bytes
        self.backups = env_backups if backups is None else backups
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._lock = threading.Lock()

    def append(self, message: Message) -> bool:
        line = json.dumps(to_otlp_json(message), separators=(",", ":"), ensure_ascii=False)
        try:
            data = (line + "\n").encode("utf-8")
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with _exclusive(self._lock_path):
                    self._rotate_if_full(len(data))
                    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                    try:
                        while data:  # one line, whole, while the lock is held
                            data = data[os.write(fd, data) :]
                    finally:
                        os.close(fd)
        except (OSError, UnicodeError) as exc:
            report_failure(f"OTLP file {self.path}", exc)
            return False
        return True

    def _rotate_if_full(self, incoming: int) -> None:
        """Start a new file when ``incoming`` bytes would take this one past ``max_bytes``
        (a line longer than that still gets a file of its own)."""
        if self.max_bytes <= 0:
            return
        try:
            size = os.stat(self.path).st_size
        except FileNotFoundError:
            return
        if size == 0 or size + incoming <= self.max_bytes:
            return
        if self.backups == 0:
            os.unlink(self.path)
            return
        for number in range(self.backups - 1, 0, -1):
            older = Path(f"{self.path}.{number}")
            if older.exists():
                os.replace(older, f"{self.path}.{number + 1}")
        os.replace(self.path, f"{self.path}.1")


class OtlpJsonFileSpanExporter(SpanExporter):
    """Spans to an OTLP/JSON lines file (``OTELSTREAM_FILE`` or the default path).

    Registered as the ``otelstream_file`` traces exporter, so
    ``OTEL_TRACES_EXPORTER=otelstream_file opentelemetry-instrument ...`` uses it too.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.file = OtlpJsonFile(path if path is not None else default_path())

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self.file.append(encode_spans(spans))
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


class OtlpJsonFileMetricExporter(MetricExporter):
    """Metrics to an OTLP/JSON lines file; the ``otelstream_file`` metrics exporter."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        super().__init__()  # cumulative temporality, as the Collector's file exporter keeps
        self.file = OtlpJsonFile(path if path is not None else default_path())

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        ok = self.file.append(encode_metrics(metrics_data))
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        pass

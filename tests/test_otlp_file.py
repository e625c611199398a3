"""The embedded default's OTLP/JSON file looks after itself: it rotates at a size, keeps a few
old files, and processes sharing it never interleave or lose a line, even while rotating.

Spans are real SDK spans exported through otelstream's own exporter; several processes write
the same file at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from otelstream.config import ConfigurationError
from otelstream.export.otlp_file import (
    DEFAULT_BACKUPS,
    DEFAULT_MAX_BYTES,
    OtlpJsonFileSpanExporter,
    rotated_files,
)


def span_names(path: Path) -> list[str]:
    """The span names of a file, checking that every line is one whole OTLP/JSON request."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        request = json.loads(line)
        for rs in request["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                names.extend(span["name"] for span in ss["spans"])
    return names


def write_spans(exporter: OtlpJsonFileSpanExporter, names: list[str], size: int = 1000) -> None:
    """One export (one line) per span, each carrying ``size`` bytes of payload."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("otlp-file-test")
    for name in names:
        with tracer.start_as_current_span(name) as span:
            span.set_attribute("payload", "x" * size)
    provider.shutdown()


def test_rotates_at_the_size_and_keeps_the_backups(tmp_path: Path) -> None:
    path = tmp_path / "otlp.jsonl"
    exporter = OtlpJsonFileSpanExporter(path)
    exporter.file.max_bytes, exporter.file.backups = 10_000, 2
    names = [f"span-{i}" for i in range(40)]  # about 1.4 kB a line: 7 lines a file
    write_spans(exporter, names)
    files = rotated_files(path)
    assert [f.name for f in files] == ["otlp.jsonl.2", "otlp.jsonl.1", "otlp.jsonl"]
    assert not (tmp_path / "otlp.jsonl.3").exists()
    assert all(f.stat().st_size <= 10_000 for f in files)
    kept = [name for f in files for name in span_names(f)]
    assert kept == names[-len(kept) :] and len(kept) >= 2 * 7  # the newest, in order


def test_a_line_longer_than_the_limit_gets_a_file_of_its_own(tmp_path: Path) -> None:
    path = tmp_path / "otlp.jsonl"
    exporter = OtlpJsonFileSpanExporter(path)
    exporter.file.max_bytes, exporter.file.backups = 2_000, 3
    write_spans(exporter, ["small"], size=10)
    write_spans(exporter, ["big"], size=5_000)
    write_spans(exporter, ["after"], size=10)
    assert [span_names(f) for f in rotated_files(path)] == [["small"], ["big"], ["after"]]


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTELSTREAM_FILE_MAX_BYTES", raising=False)
    monkeypatch.delenv("OTELSTREAM_FILE_BACKUPS", raising=False)
    exporter = OtlpJsonFileSpanExporter(tmp_path / "a.jsonl")
    assert (exporter.file.max_bytes, exporter.file.backups) == (DEFAULT_MAX_BYTES, DEFAULT_BACKUPS)
    assert DEFAULT_MAX_BYTES == 64 * 1024 * 1024
    monkeypatch.setenv("OTELSTREAM_FILE_MAX_BYTES", "5000")
    monkeypatch.setenv("OTELSTREAM_FILE_BACKUPS", "0")
    exporter = OtlpJsonFileSpanExporter(tmp_path / "b.jsonl")
    assert (exporter.file.max_bytes, exporter.file.backups) == (5000, 0)
    write_spans(exporter, [f"s{i}" for i in range(10)], size=1000)
    assert rotated_files(tmp_path / "b.jsonl") == [tmp_path / "b.jsonl"]  # no backup kept
    assert span_names(tmp_path / "b.jsonl")[-1] == "s9"
    monkeypatch.setenv("OTELSTREAM_FILE_BACKUPS", "three")
    with pytest.raises(ConfigurationError, match="OTELSTREAM_FILE_BACKUPS='three'"):
        OtlpJsonFileSpanExporter(tmp_path / "c.jsonl")


WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    from test_otlp_file import write_spans
    from otelstream.export.otlp_file import OtlpJsonFileSpanExporter

    exporter = OtlpJsonFileSpanExporter({path!r})
    exporter.file.max_bytes, exporter.file.backups = 60_000, 1_000  # none deleted here
    write_spans(exporter, [f"w{{sys.argv[1]}}-{{i}}" for i in range(150)], size=int(sys.argv[2]))
    """
)


def test_processes_sharing_the_file_never_interleave_or_lose_a_line(tmp_path: Path) -> None:
    """Four processes append to one file at once, rotating it again and again (lines of
    different sizes, some larger than a pipe buffer): every line arrives whole, exactly once,
    and every file stays within the limit."""
    path = tmp_path / "shared.jsonl"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(tests=str(Path(__file__).parent), path=str(path)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTELSTREAM_")}
    writers = [
        subprocess.Popen([sys.executable, str(script), str(n), str(size)], env=env)
        for n, size in enumerate((300, 2_000, 9_000, 70_000))
    ]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0, 0]
    files = rotated_files(path)
    names = [name for f in files for name in span_names(f)]
    expected = [f"w{n}-{i}" for n in range(4) for i in range(150)]
    assert sorted(names) == sorted(expected)  # whole lines, none lost, none twice
    for n in range(4):  # each writer's lines in its own order
        assert [x for x in names if x.startswith(f"w{n}-")] == [f"w{n}-{i}" for i in range(150)]
    for f in files:
        lines = f.read_bytes().splitlines()
        assert f.stat().st_size <= 60_000 or len(lines) == 1, f
    assert len(files) > 20  # it did rotate, many times

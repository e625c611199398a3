"""The peer instrumentors otelstream is compared with: OpenInference and OpenLLMetry.

They are optional (``pip install "otelstream[bench]"`` in a virtualenv of its own): their
conditions run only where the subprocess interpreter can import them.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from typing import Any


def _openinference(provider: Any) -> None:
    from openinference.instrumentation.langchain import LangChainInstrumentor

    LangChainInstrumentor().instrument(tracer_provider=provider)


def _openllmetry(provider: Any) -> None:
    from opentelemetry.instrumentation.langchain import LangchainInstrumentor

    LangchainInstrumentor().instrument(tracer_provider=provider)


PEER_SETUPS: dict[str, Callable[[Any], None]] = {
    "openinference": _openinference,
    "openllmetry": _openllmetry,
}
"""Condition setup name -> instrument LangChain with that peer, onto a tracer provider."""


def installed(python: str, module: str) -> bool:
    """Whether ``python`` can import ``module``."""
    check = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
    return check.returncode == 0

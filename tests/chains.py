"""LCEL chains outside any graph, as the users who migrate LCEL apps build them: sequences,
``RunnableParallel`` (inside a chain and as the root), ``assign``, lambdas, sync and async
generators, fallbacks (a step's and the whole chain's), a ``RunnableBranch``, a bare model.

A subscription follows each as its caller streams it (``stream``/``astream``). Only chat
models are fake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from graphs import Case, FakeChatModel, answer
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import (
    RunnableBranch,
    RunnableGenerator,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)


def prompt() -> Any:
    return ChatPromptTemplate.from_messages([("human", "Q: {question}")])


def answering(text: str, model_name: str = "fake-model-1") -> Any:
    """prompt | model | parser, the model answering ``text``."""
    model = FakeChatModel(responses=[answer(text)], model_name=model_name)
    return prompt() | model | StrOutputParser()


def sequence() -> Any:
    return answering("forty two")


def parallel_in_chain() -> Any:
    """A ``RunnableParallel`` inside a chain: the answer and the question side by side."""
    both = RunnableParallel(
        answer=answering("blue sky"), question=RunnableLambda(lambda d: d["question"])
    )
    return both | RunnableLambda(lambda d: f"{d['question']} -> {d['answer']}", name="format")


def parallel_root() -> Any:
    """A ``RunnableParallel`` as the root."""
    return RunnableParallel(answer=answering("aa bb"), echo=RunnablePassthrough())


def assign() -> Any:
    """``RunnablePassthrough.assign``: the input, plus the answer."""
    return RunnablePassthrough.assign(answer=answering("assigned"))


def async_generator() -> Any:
    """A chain ending in an async generator that transforms the streamed tokens."""

    async def shout(chunks: AsyncIterator[str]) -> AsyncIterator[str]:
        async for chunk in chunks:
            yield chunk.upper()

    return answering("quiet words here") | RunnableGenerator(shout, name="shout")


def generator() -> Any:
    """A generator step (sync, with its async twin) between the model and a lambda."""

    def words(chunks: Iterator[Any]) -> Iterator[str]:
        for chunk in chunks:
            yield from str(chunk.content).split()

    async def awords(chunks: AsyncIterator[Any]) -> AsyncIterator[str]:
        async for chunk in chunks:
            for word in str(chunk.content).split():
                yield word

    model = FakeChatModel(responses=[answer("one two three")])
    split = RunnableGenerator(words, awords, name="words")
    return prompt() | model | split | RunnableLambda(str.title)


class ModelDown(RuntimeError):
    pass


def _down(_: Any) -> Any:
    raise ModelDown("primary model unavailable")


def fallback_step() -> Any:
    """A model whose provider is down, with a fallback model, inside a chain."""
    primary = RunnableLambda(_down, name="primary")
    backup = FakeChatModel(responses=[answer("from the backup")], model_name="backup-model")
    return prompt() | primary.with_fallbacks([backup]) | StrOutputParser()


def fallback_root() -> Any:
    """A whole chain with a fallback chain (the root is a ``RunnableWithFallbacks``)."""
    failing = prompt() | RunnableLambda(_down, name="primary") | StrOutputParser()
    return failing.with_fallbacks([answering("backup here", "backup-model")])


def branch_root() -> Any:
    """A ``RunnableBranch`` root choosing a chain by the question."""
    return RunnableBranch(
        (lambda d: "sky" in d["question"], answering("the sky is blue")),
        answering("no idea"),
    )


def model_root() -> Any:
    """A bare chat model."""
    return FakeChatModel(responses=[answer("just a model")])


_Q = {"question": "what colour is the sky"}


def model_input_as_messages(native: list[Any], ours: list[Any]) -> list[Any]:
    """A followed bare model reports its input as its messages (``{"messages": [[...]]}``),
    where ``astream_events`` repeats the caller's input: the first event, and only it."""
    first, expected = ours[0], native[0]
    assert first["event"] == expected["event"] == "on_chat_model_start"
    batches = first["data"]["input"]["messages"]
    assert [[m.content for m in batch] for batch in batches] == [[expected["data"]["input"]]]
    return [{**first, "data": expected["data"]}, *ours[1:]]


CHAINS: list[Case] = [
    Case("lcel_sequence", sequence, _Q, graph=False),
    Case("lcel_sequence_async", sequence, _Q, graph=False, is_async=True),
    Case("lcel_parallel_in_chain", parallel_in_chain, _Q, graph=False, parallel=True),
    Case("lcel_parallel_root", parallel_root, _Q, graph=False, parallel=True),
    Case("lcel_assign", assign, _Q, graph=False, parallel=True),
    Case("lcel_async_generator", async_generator, _Q, graph=False, is_async=True),
    Case("lcel_generator", generator, _Q, graph=False),
    Case("lcel_fallback_step", fallback_step, _Q, graph=False),
    Case("lcel_fallback_root", fallback_root, _Q, graph=False),
    Case("lcel_fallback_root_async", fallback_root, _Q, graph=False, is_async=True),
    Case("lcel_branch_root", branch_root, _Q, graph=False),
    Case(
        "lcel_model_root",
        model_root,
        "hello",
        graph=False,
        known_difference=model_input_as_messages,
    ),
]

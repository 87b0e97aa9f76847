"""RecordProcessor.process_many: runs of batchable records in one call, order kept, poison isolated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from cityops_platform import tracing
from cityops_platform.kafka.deadletter import DeadLetters, RawRecord, RecordProcessor


@pytest.fixture(autouse=True)
def untraced(monkeypatch: pytest.MonkeyPatch) -> None:
    # Batching applies to an untraced process; whether tracing is on is process state that an
    # earlier test in the same session may have set (configure_tracing), so each test says it.
    monkeypatch.setattr(tracing, "_enabled", False)


class Recorder:
    """The handlers and the dead-letter sink of one test: what was called, in order."""

    def __init__(self, *, poison: str = "", transient_batches: int = 0) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.dead: list[tuple[str, str]] = []
        self.poison = poison
        self.transient_batches = transient_batches

    async def handle(self, message: str, _: Any) -> None:
        if message == self.poison:
            raise ValueError("poison")
        self.calls.append(("one", [message]))

    async def handle_many(self, pairs: Sequence[tuple[str, Any]]) -> None:
        messages = [message for message, _ in pairs]
        if self.transient_batches:
            self.transient_batches -= 1
            raise ConnectionError("database restarting")
        if self.poison in messages:
            raise ValueError("poison in the batch")
        self.calls.append(("many", list(messages)))

    async def send(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.dead.append((topic, dict(headers)["cityops-dlq-reason"].decode() if headers else ""))

    def processor(self) -> RecordProcessor[str]:
        def decode(raw: bytes) -> str:
            if raw == b"undecodable":
                raise ValueError("not a message")
            return raw.decode()

        return RecordProcessor(decode=decode, handle=self.handle, dead_letters=DeadLetters(self.send),
                               max_backoff_s=0.01)


def _records(*values: str) -> list[RawRecord]:
    return [RawRecord("t", 0, offset, None, value.encode(), []) for offset, value in enumerate(values)]


def _batchable(message: str) -> bool:
    return message.startswith("v")


async def test_consecutive_batchable_records_go_in_one_call_and_order_is_kept() -> None:
    rec = Recorder()
    await rec.processor().process_many(_records("v1", "v2", "v3", "p4", "v5", "v6", "p7", "v8"),
                                       batchable=_batchable, handle_many=rec.handle_many)
    assert rec.calls == [("many", ["v1", "v2", "v3"]), ("one", ["p4"]), ("many", ["v5", "v6"]), ("one", ["p7"]),
                         ("one", ["v8"])]
    assert rec.dead == []


async def test_a_poison_record_in_a_batch_is_the_only_one_dead_lettered() -> None:
    rec = Recorder(poison="v2")
    await rec.processor().process_many(_records("v1", "v2", "v3"), batchable=_batchable, handle_many=rec.handle_many)
    assert rec.calls == [("one", ["v1"]), ("one", ["v3"])]
    assert rec.dead == [("t.dlq", "handler")]


async def test_an_undecodable_record_is_dead_lettered_and_the_rest_still_batch() -> None:
    rec = Recorder()
    await rec.processor().process_many(_records("v1", "undecodable", "v3"), batchable=_batchable,
                                       handle_many=rec.handle_many)
    assert rec.calls == [("many", ["v1", "v3"])]
    assert rec.dead == [("t.dlq", "decode")]


async def test_a_transient_failure_retries_the_whole_batch_and_loses_nothing() -> None:
    rec = Recorder(transient_batches=2)
    await rec.processor().process_many(_records("v1", "v2"), batchable=_batchable, handle_many=rec.handle_many)
    assert rec.calls == [("many", ["v1", "v2"])]
    assert rec.dead == []


async def test_with_tracing_on_every_record_is_handled_alone_in_its_own_span(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_enabled", True)
    rec = Recorder()
    await rec.processor().process_many(_records("v1", "v2", "p3"), batchable=_batchable, handle_many=rec.handle_many)
    assert rec.calls == [("one", ["v1"]), ("one", ["v2"]), ("one", ["p3"])]

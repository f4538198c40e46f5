"""Readers of an outdated shared body are cut once its grace is over, and only they."""

from __future__ import annotations

import asyncio

from netchecker_exporter.http.stale_bodies import StaleBodies


def test_readers_of_a_replaced_body_are_cut_after_the_grace_and_readers_of_the_newest_are_not() -> None:
    cut: list[str] = []

    async def scenario() -> None:
        stale = StaleBodies(grace_seconds=0.05)
        old, new, other = b"old" * 10, b"new" * 10, b"other" * 10
        stale.reading("metrics", old, lambda: cut.append("old reader"))
        done_quick = stale.reading("metrics", old, lambda: cut.append("old reader, done in time"))
        stale.reading("listing", other, lambda: cut.append("another kind"))
        done_quick()
        stale.reading("metrics", new, lambda: cut.append("new reader"))
        stale.reading("metrics", new, lambda: cut.append("second new reader"))
        await asyncio.sleep(0.2)
        assert stale.cut == 1

    asyncio.run(scenario())
    assert cut == ["old reader"]


def test_a_replaced_body_nobody_reads_any_more_schedules_no_cut() -> None:
    async def scenario() -> int:
        stale = StaleBodies(grace_seconds=0.01)
        first, second = b"1" * 10, b"2" * 10
        stale.reading("metrics", first, lambda: None)()
        stale.reading("metrics", second, lambda: None)
        await asyncio.sleep(0.05)
        return stale.cut

    assert asyncio.run(scenario()) == 0


def test_a_stale_body_is_cut_though_another_kind_last_handed_out_a_body_at_its_address() -> None:
    """Ids outlive their objects in the table of newest bodies: another kind's newest may be a body
    freed since, whose address a later body of this kind took (seen with /metrics in two formats)."""
    cut: list[str] = []

    async def scenario() -> None:
        stale = StaleBodies(grace_seconds=0.01)
        body = b"reused address" * 10
        stale._newest["openmetrics"] = id(body)  # that kind's newest was freed; `body` took its place
        stale.reading("text", body, lambda: cut.append("stale reader"))
        stale.reading("text", b"newer" * 10, lambda: None)
        await asyncio.sleep(0.05)

    asyncio.run(scenario())
    assert cut == ["stale reader"]

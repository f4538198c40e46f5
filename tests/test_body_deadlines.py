"""BodyDeadlines: only bodies past their deadline come out of a sweep, oldest first, once."""

from __future__ import annotations

from netchecker_exporter.http.body_deadlines import BodyDeadlines


def test_a_sweep_returns_the_bodies_past_their_deadline_oldest_first_and_keeps_the_rest() -> None:
    deadlines = BodyDeadlines(timeout_seconds=10)
    keys = [object() for _ in range(4)]
    for index, key in enumerate(keys):
        deadlines.add(key, f"body {index}", now=100.0 + index)
    assert deadlines.expired(109.5) == []
    assert deadlines.expired(111.0) == ["body 0", "body 1"]
    assert deadlines.expired(111.0) == []  # each body comes out once
    assert len(deadlines) == 2
    assert deadlines.expired(1000.0) == ["body 2", "body 3"]
    assert len(deadlines) == 0


def test_a_body_that_came_in_time_is_never_swept() -> None:
    deadlines = BodyDeadlines(timeout_seconds=1)
    early, late = object(), object()
    deadlines.add(early, "early", now=0.0)
    deadlines.add(late, "late", now=0.5)
    deadlines.discard(early)
    deadlines.discard(object())  # unknown: nothing happens
    assert deadlines.expired(10.0) == ["late"]


def test_the_sweep_runs_ten_times_per_timeout() -> None:
    assert BodyDeadlines(timeout_seconds=10).sweep_every_seconds == 1.0

"""granian's embedded RSGI worker with our own dispatch: a request can be answered on the thread
granian hands it to, without a trip through the asyncio loop.

granian's scheduler sends every request to the loop with call_soon_threadsafe (a self-pipe write
and a loop wake-up) and runs it as an asyncio Task; a body's arrival wakes the loop again, and a
thread pool's answer a third time. Here granian's Python thread calls `dispatch(watcher)` itself:
what needs the loop (streamed and piped responses, reads on their pool) is handed over as before,
and the rest is answered where it stands. `InPlace` callbacks registered on granian's futures run
on the thread that completes them (DirectLoop), so an agent's POST never touches the loop.

granian's embedded worker is the one in granian.server.embed, with only the scheduler replaced;
the names it is built from are granian's internals (pinned to granian 2.8.x in pyproject.toml, and
tests/test_http_front.py exercises every path through them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from granian import _granian
from granian.server.embed import AsyncWorker

NATIVE: Any = _granian
"""granian's Rust classes (RSGIWorker, CallbackScheduler), whose stubs lag their signatures."""

Dispatch = Callable[[Any], None]


class InPlace:
    """A done-callback for a granian future that runs on the thread completing it, not the loop."""

    __slots__ = ()

    def __call__(self, future: Any) -> None:
        raise NotImplementedError


class DirectLoop(asyncio.SelectorEventLoop):
    """The asyncio loop granian serves from, which runs InPlace callbacks where they are scheduled.

    granian completes its futures on its own Python thread with `loop.call_soon_threadsafe(cb,
    future)` (and `loop.call_soon` when cancelled on the loop): for an InPlace callback that is a
    call right there, with the GIL already held, instead of a wake-up of the loop."""

    def call_soon_threadsafe(self, callback: Any, *args: Any, context: Any = None) -> Any:  # type: ignore[override]
        if isinstance(callback, InPlace):
            callback(*args)
            return None
        return super().call_soon_threadsafe(callback, *args, context=context)

    def call_soon(self, callback: Any, *args: Any, context: Any = None) -> Any:  # type: ignore[override]
        if isinstance(callback, InPlace):
            callback(*args)
            return None
        return super().call_soon(callback, *args, context=context)


def on_loop(loop: asyncio.AbstractEventLoop, watcher: Any, coroutine: Coroutine[Any, Any, None]) -> None:
    """Run `coroutine` (a request's handling) as a Task on `loop`, as granian's own scheduler does;
    callable from any thread."""
    loop.call_soon_threadsafe(_start, loop, watcher, coroutine)


def _start(loop: asyncio.AbstractEventLoop, watcher: Any, coroutine: Coroutine[Any, Any, None]) -> None:
    watcher.taskref(loop.create_task(coroutine))


async def watched(handler: Callable[[Any, Any], Coroutine[Any, Any, None]], watcher: Any) -> None:
    """`handler(scope, proto)`, then tell granian the request is over (a 500 if nothing answered)."""
    try:
        await handler(watcher.scope, watcher.proto)
    except BaseException as error:  # granian logs it and answers 500, as for its own scheduler
        watcher.err(error)
        return
    watcher.done()


def spawn_target(dispatch_for: Callable[[asyncio.AbstractEventLoop], Dispatch]) -> Callable[..., Any]:
    """A spawn target for granian's embedded Server.serve: its RSGI worker, with requests going to
    `dispatch_for(loop)` on granian's Python thread instead of to the loop."""

    @AsyncWorker.wrap_target  # type: ignore[untyped-decorator]
    async def spawn_rsgi_worker(  # noqa: PLR0913, PLR0917 (granian's spawn signature, as it is)
        worker_id: int,
        shutdown_event: Any,
        callback: Any,
        sock: Any,
        loop: Any,
        runtime_threads: int,
        runtime_blocking_threads: int | None,
        blocking_threads: int,
        blocking_threads_idle_timeout: int,
        backpressure: int,
        task_impl: Any,
        http_mode: Any,
        http1_settings: Any,
        http2_settings: Any,
        websockets: Any,
        static_path: Any,
        log_access_fmt: str | None,
        ssl_ctx: Any,
        scope_opts: dict[str, Any],
    ) -> None:
        stopped = loop.create_future()

        def shutdown_glue() -> None:
            loop.call_soon_threadsafe(lambda: stopped.done() or stopped.set_result(None))

        shutdown_event.add_cb(shutdown_glue)
        worker = NATIVE.RSGIWorker(
            worker_id, sock, None, runtime_threads, runtime_blocking_threads, blocking_threads,
            blocking_threads_idle_timeout, backpressure, http_mode, http1_settings, http2_settings,
            websockets, static_path, *ssl_ctx, (None, None),
        )  # fmt: skip
        scheduler = NATIVE.CallbackScheduler(loop, None, None, None, None)
        scheduler._schedule_fn = dispatch_for(loop)  # granian's own hook: what its thread calls per request
        serve = worker.serve_async_uds if (sock[0] or sock[1]).is_uds() else worker.serve_async
        serve(scheduler, loop, shutdown_event)
        await stopped

    return spawn_rsgi_worker  # type: ignore[no-any-return]

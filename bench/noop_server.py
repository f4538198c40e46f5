"""No-op ceilings: an app that reads the body and answers 200, on each HTTP front we compare.

`noop_app` is plain WSGI; `bottle_app` is the same behind a bottle route, as ours is. The fronts:
`ours` (netchecker_exporter.http.front: granian embedded, RSGI + our WSGI bridge), `waitress`, `cheroot`
here; `granian-wsgi` (granian's own WSGI mode) and `gunicorn` run from their CLIs (bench/processes.py).
`python -m bench.noop_server PORT [--front ours|waitress|cheroot] [--app noop|bottle]`
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import bottle

from netchecker_exporter.flags import INGEST_THREADS as SERVER_THREADS
from netchecker_exporter.http.front import FrontSettings, GranianFront

READ_LIMIT_BYTES = 1 << 20


def noop_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(min(length, READ_LIMIT_BYTES))
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "0")])
    return [b""]


def make_bottle_app() -> bottle.Bottle:
    app = bottle.Bottle()

    @app.post("/api/v1/agents/<name>")
    def post_report(name: str) -> str:
        bottle.request.body.read()
        return ""

    @app.get("/")
    def index() -> str:
        return ""

    return app


bottle_app = make_bottle_app()


def _on_stop(stop: threading.Event, action: Callable[[], object]) -> None:
    def wait_then_act() -> None:
        stop.wait()
        action()

    threading.Thread(target=wait_then_act, daemon=True).start()


def serve(front: str, app: Any, port: int, stop: threading.Event) -> None:
    if front in {"ours", "ours-inline"}:
        # As shipped: POSTs on SERVER_THREADS threads; ours-inline runs them on granian's own thread.
        threads = SERVER_THREADS if front == "ours" else 0
        GranianFront(
            app, FrontSettings("127.0.0.1", port, READ_LIMIT_BYTES, ingest_threads=threads)
        ).serve_until(stop)
    elif front == "waitress":
        import waitress  # a bench-only dependency: imported when used

        server = waitress.create_server(app, host="127.0.0.1", port=port, threads=SERVER_THREADS,
                                        connection_limit=1000, asyncore_use_poll=True)  # fmt: skip
        _on_stop(stop, server.close)
        server.run()
    elif front == "cheroot":
        from cheroot import wsgi  # a bench-only dependency: imported when used

        cheroot = wsgi.Server(("127.0.0.1", port), app, numthreads=SERVER_THREADS)
        _on_stop(stop, cheroot.stop)
        cheroot.safe_start()
    else:
        raise SystemExit(f"unknown front {front!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int)
    parser.add_argument("--front", default="ours", choices=["ours", "ours-inline", "waitress", "cheroot"])
    parser.add_argument("--app", default="noop", choices=["noop", "bottle"])
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    serve(args.front, noop_app if args.app == "noop" else bottle_app, args.port, stop)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""CPU per report POSTed through the bottle app in-process, on the memory store: the ingest
handler's own cost (routing, decoding, validation, the store write), without the front's.

    .venv/bin/python -m bench.ingest_handler [--reports 10000] [--repeat 5] [--variants .,DIR]

Each variant is a checkout (`git archive COMMIT | tar -x -C DIR`) whose package and tests/support
are imported in a process of its own, with this venv; the process tunes the interpreter as the
server does (tuning.tune_interpreter), posts every agent's report once to fill the store, then
--repeat rounds of one report per agent. The figure is process CPU time per report: the best
round, and the median. Unlike wrk against a server, it needs no spare core to be repeatable.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.paths import REPO

AGENTS = 10_000


def environ(body: bytes, pod: str) -> dict[str, Any]:
    """What wsgi_bridge.wsgi_environ builds for an agent's POST."""
    return {
        "REQUEST_METHOD": "POST", "PATH_INFO": f"/api/v1/agents/{pod}", "SCRIPT_NAME": "",
        "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8081",
        "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr,
        "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
        "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
        "HTTP_CONNECTION": "close", "HTTP_USER_AGENT": "Go-http-client/1.1",
    }  # fmt: skip


def measure_here(reports: int, repeat: int) -> dict[str, Any]:
    """In this process, on the package it imports: CPU us per POST, each round."""
    from bench.payload import agent_identity, load_fixtures, render_report
    from netchecker_exporter.tuning import tune_interpreter
    from tests.support.api_server import Server

    server, fixtures, now = Server(time.time), load_fixtures(), time.time()
    bodies = [
        (render_report(fixtures[i.hostnet], i, now=now), i.pod) for i in map(agent_identity, range(reports))
    ]
    statuses: list[str] = []

    def start_response(status: str, _headers: Any, _exc_info: Any = None) -> None:
        statuses.append(status)

    for body, pod in bodies:  # the store holds every agent, as in a running fleet
        b"".join(server.app(environ(body, pod), start_response))
    tune_interpreter()
    rounds = []
    for _ in range(repeat):
        environs = [environ(body, pod) for body, pod in bodies]
        started = time.process_time()
        for request in environs:
            b"".join(server.app(request, start_response))
        rounds.append((time.process_time() - started) / len(environs) * 1e6)
    refused = [s for s in statuses if not s.startswith("200")]
    return {
        "rounds_us": rounds,
        "best_us": min(rounds),
        "median_us": statistics.median(rounds),
        "refused": len(refused),
    }


def measure_checkout(directory: Path, reports: int, repeat: int) -> dict[str, Any]:
    """This script, run on `directory`'s package (first on the path; an older checkout lacks the script)."""
    command = [sys.executable, __file__, "--here", f"--reports={reports}", f"--repeat={repeat}"]
    environment = {**os.environ, "PYTHONPATH": f"{directory}{os.pathsep}{REPO}"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=directory, env=environment)
    if done.returncode != 0:
        raise RuntimeError(f"{directory}: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reports", type=int, default=AGENTS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--variants", default=".", help="comma-separated checkouts (. is this one)")
    parser.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.here:
        print(json.dumps(measure_here(args.reports, args.repeat)))
        return
    for variant in args.variants.split(","):
        directory = REPO if variant == "." else Path(variant).resolve()
        result = measure_checkout(directory, args.reports, args.repeat)
        print(
            f"{variant}: {result['best_us']:.1f} us per report (median {result['median_us']:.1f}); {result}"
        )


if __name__ == "__main__":
    main()

"""etcd paused (SIGSTOP) under ingest: health-endpoint latency and 503 latency of a real server.

    python -m bench.sick_etcd [--pause 20] [--threads 40] [--ping-timeout 5]

A real etcd and a real `python exporter.py` (the test suite's fixtures), `threads` agents posting
as fast as they are answered; prints one JSON object (docs/limits.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tests.support.etcd import EtcdProcess
from tests.support.exporter import ExporterProcess
from tests.support.polling import wait_until
from tests.support.sick_etcd import IngestLoad, slowest_health_answer


def run(args: argparse.Namespace) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as directory:
        etcd = EtcdProcess(Path(directory) / "etcd")
        etcd.start()
        exporter = ExporterProcess(
            f"-etcd-endpoints={etcd.url}", "-check-interval=1", f"-ping-timeout={args.ping_timeout}"
        )
        try:
            wait_until(lambda: exporter.get("/readyz").status_code == 200, 20, "/readyz 200")
            load = IngestLoad(exporter, threads=args.threads)
            time.sleep(3)
            healthy, _ = slowest_health_answer(exporter, 3)
            mark = len(load.results)
            etcd.pause()
            paused_at = time.monotonic()
            slowest, path = slowest_health_answer(exporter, args.pause)
            etcd.resume()
            results = load.stop()[mark:]
            recovered = wait_until(lambda: exporter.get("/readyz").status_code == 200, 30, "recovery")
            refused = sorted(seconds for status, seconds in results if status == 503)
            return {
                "ping_timeout_seconds": args.ping_timeout,
                "pause_seconds": args.pause,
                "ingest_threads": args.threads,
                "slowest_health_before_pause_seconds": round(healthy, 3),
                "slowest_health_during_pause_seconds": round(slowest, 3),
                "slowest_health_path": path,
                "posts_during_pause": len(results),
                "statuses": sorted({status for status, _ in results}),
                "status_503": len(refused),
                "median_503_seconds": round(statistics.median(refused), 3) if refused else None,
                "max_503_seconds": round(refused[-1], 3) if refused else None,
                "recovered_after_resume_seconds": round(time.monotonic() - paused_at - args.pause, 1)
                if recovered
                else None,
            }
        finally:
            exporter.stop()
            etcd.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pause", type=float, default=20.0)
    parser.add_argument("--threads", type=int, default=40)
    parser.add_argument("--ping-timeout", type=float, default=5.0)
    print(json.dumps(run(parser.parse_args(argv)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

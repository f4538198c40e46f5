"""Stand-in for the Go agent when it could not be built: same flags, env and timing, a captured body.

Only used when `e2e/build-peers` found no way to build github.com/Mirantis/k8s-netchecker-agent
(the Go module proxy refuses it). It posts the real captured report tests/fixtures/<-report> with
this pod's names and interval, first after one interval, as the real agent's loop does.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
import urllib.request
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "agent-report-hostnet.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-serverendpoint", default="netchecker-service:8081")
    parser.add_argument("-reportinterval", type=int, default=60)
    parser.add_argument("-probeurls", default="")
    options, _ = parser.parse_known_args()
    report = json.loads(FIXTURE.read_text())
    report.update(
        podname=os.environ["MY_POD_NAME"], nodename=os.environ.get("MY_NODE_NAME", ""),
        report_interval=options.reportinterval,
    )  # fmt: skip
    url = f"http://{options.serverendpoint}/api/v1/agents/{report['podname']}"
    while True:
        time.sleep(options.reportinterval)
        report["hostdate"] = datetime.datetime.now(datetime.UTC).isoformat()
        request = urllib.request.Request(url, json.dumps(report).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=options.reportinterval) as reply:
                print(f"Response status code: {reply.status}", flush=True)
        except OSError as error:
            print(f"Error while sending info. Details: {error}", flush=True)


if __name__ == "__main__":
    main()

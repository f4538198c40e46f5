"""Stand-in for the Go agent when it could not be built: same flags, env and timing, a captured body.

Only used when `e2e/build-peers` found no way to build github.com/Mirantis/k8s-netchecker-agent
(the Go module proxy refuses it). It posts the real captured report tests/fixtures/<-report> with
this pod's names and interval, first after one interval, as the real agent's loop does, and with
one probe of the server's /api/v1/ping in place of the captured ones (the real agent's only probe
when no -probeurls is given).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
import urllib.error
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
    ping = f"http://{options.serverendpoint}/api/v1/ping"
    while True:
        time.sleep(options.reportinterval)
        report["hostdate"] = datetime.datetime.now(datetime.UTC).isoformat()
        report["network_probes"] = [probe(ping, options.reportinterval)]
        request = urllib.request.Request(
            url, json.dumps(report).encode(), {"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=options.reportinterval) as reply:
                print(f"Response status code: {reply.status}", flush=True)
        except urllib.error.HTTPError as error:  # the real agent logs every answer alike
            print(f"Response status code: {error.code}", flush=True)
        except OSError as error:
            print(f"Error while sending info. Details: {error}", flush=True)


def probe(url: str, timeout: float) -> dict[str, object]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            code, connected = reply.status, 1
    except urllib.error.HTTPError as error:
        code, connected = error.code, 1
    except OSError:
        code, connected = 0, 0
    total = int((time.monotonic() - started) * 1000)
    untimed = ("ContentTransfer", "TCPConnection", "DNSLookup", "Connect", "ServerProcessing")
    phases = dict.fromkeys(untimed, 0)
    return {"URL": url, "ConnectionResult": connected, "HTTPCode": code, "Total": total, **phases}


if __name__ == "__main__":
    main()

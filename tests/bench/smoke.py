#!/usr/bin/env python3
"""CTest bench_smoke: tern-bench against a private Tern, about a second per scenario at a
low rate. Passes when every run completes with zero loss, duplicates and reordering and the
idle clients all connect. Not a performance test: no speed is asserted."""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

RUNS = [
    ["fanin", "--qos", "0", "--rate", "2000", "-P", "4"],
    ["fanin", "--qos", "1", "--rate", "2000", "-P", "3", "--topics", "each", "--protocol", "3.1.1"],
    ["fanin", "--qos", "2", "--rate", "1000", "-P", "2"],
    ["fanout", "--qos", "1", "--rate", "500", "-S", "4"],
    ["fanout", "--qos", "0", "--rate", "500", "-S", "3", "--protocol", "3.1.1"],
    ["latency", "--qos", "0", "--rate", "500", "--payload", "100"],
    ["conns", "-C", "50", "--keepalive", "1"],
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tern", required=True)
    ap.add_argument("--bench", required=True)
    a = ap.parse_args()
    failures = 0
    broker = benchlib.start_tern(a.tern, io_threads=2)
    try:
        for args in RUNS:
            code, r = benchlib.run_bench(a.bench, broker.port,
                                         args + ["--duration", "1", "--timeout", "20",
                                                 "--expect-clean"], timeout=40)
            ok = code == 0 and r.get("clean") is True
            if args[0] == "conns":
                ok = ok and r.get("connected") == 50 and r.get("alive_at_end") == 50
            else:
                ok = ok and r.get("delivered", 0) > 0 and r.get("delivered") == r.get("expected")
            print("%s %s: exit %s %s" % ("ok  " if ok else "FAIL", " ".join(args), code, r))
            failures += 0 if ok else 1
        if broker.proc.poll() is not None:
            print("FAIL: tern exited during the smoke test")
            failures += 1
    finally:
        benchlib.stop_all()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

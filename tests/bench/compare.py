#!/usr/bin/env python3
"""Side-by-side benchmark: Tern against Debian's Mosquitto on loopback, same run, same
generator (tern-bench). Pinned mode (default): broker on CPU 0 with one I/O thread, tern-bench
on CPU 1. --unpinned: no pinning, Tern with two I/O threads. Each scenario runs for both
brokers, alternating which goes first, each on a freshly started broker. Prints one table:
msgs/s, ratio Tern/Mosquitto, broker CPU time per delivered message, p99 latency, and RSS
idle and with N idle clients. Stops everything it started, also on Ctrl-C or SIGTERM.

  tests/bench/compare.py [--duration 3] [--unpinned] [--only fanin-q0,conns] [--json FILE]
"""

import argparse
import glob
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

SCENARIOS = [
    ("fanin-q0", ["fanin", "-q", "0", "-P", "4"]),
    ("fanin-q1", ["fanin", "-q", "1", "-P", "4"]),
    ("fanin-q2", ["fanin", "-q", "2", "-P", "4"]),
    ("fanin-each-q0", ["fanin", "-q", "0", "-P", "4", "--topics", "each"]),
    ("fanout-q0", ["fanout", "-q", "0", "-S", "16"]),
    ("fanout-q1", ["fanout", "-q", "1", "-S", "16"]),
    ("latency-1k", ["latency", "-q", "0", "--rate", "1000"]),
    ("conns", ["conns"]),
]


def newest(pattern):
    found = [p for p in glob.glob(os.path.join(REPO, pattern)) if os.access(p, os.X_OK)]
    return max(found, key=os.path.getmtime) if found else None


def machine():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        mv = subprocess.run(["mosquitto", "-h"], capture_output=True, timeout=5).stdout
        mv = mv.decode().splitlines()[0].strip()
    except (OSError, IndexError, subprocess.TimeoutExpired):
        mv = "mosquitto ?"
    return "%s, nproc %d, %s, kernel %s, %s" % (
        time.strftime("%Y-%m-%d %H:%M"), os.cpu_count(), model, platform.release(), mv)


class RssSampler(threading.Thread):
    """Peak VmRSS of a broker while a run goes on (10 samples/s)."""

    def __init__(self, broker):
        super().__init__(daemon=True)
        self.broker, self.peak, self.done = broker, 0, threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, self.broker.rss_bytes())
            except OSError:
                return
            self.done.wait(0.1)


def one_run(args, which, name, argv, cpu_broker, cpu_bench):
    if which == "tern":
        b = benchlib.start_tern(args.tern, io_threads=args.io_threads, cpu=cpu_broker)
    else:
        b = benchlib.start_mosquitto(args.mosquitto, cpu=cpu_broker)
    try:
        time.sleep(0.3)
        idle = b.rss_bytes()
        extra = ["--duration", str(args.duration), "--timeout", str(args.duration + 25)]
        if argv[0] == "conns":
            extra = ["-C", str(args.clients), "--duration", "2", "--timeout", "60"]
        sampler = RssSampler(b)
        sampler.start()
        cpu0 = b.cpu_seconds()
        code, r = benchlib.run_bench(args.bench, b.port, argv + extra, cpu=cpu_bench,
                                     timeout=args.duration + 70)
        cpu = b.cpu_seconds() - cpu0
        sampler.done.set()
        sampler.join()
        if b.proc.poll() is not None:
            r["error"] = (r.get("error") or "") + " broker exited"
        r.update(exit=code, broker_cpu_s=cpu, rss_idle=idle, rss_peak=sampler.peak)
        delivered = r.get("delivered", 0)
        r["cpu_us_per_msg"] = cpu * 1e6 / delivered if delivered else None
        return r
    finally:
        b.stop()


def fmt_rate(v):
    return "%.0f" % v if v else "-"


def status(r):
    if r.get("error") or r.get("exit") not in (0, None):
        return "ERR"
    if r["scenario"] == "conns":
        return "ok" if r.get("connected") == r.get("clients") else "FAIL"
    bad = [k for k in ("lost", "duplicates", "reordered") if r.get(k)]
    return "ok" if not bad else ",".join("%s=%d" % (k, r[k]) for k in bad)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tern", default=newest("build*/broker/app/tern"))
    ap.add_argument("--bench", default=newest("build*/tests/bench/tern-bench"))
    ap.add_argument("--mosquitto", default="mosquitto")
    ap.add_argument("--duration", type=float, default=3.0, help="seconds per run")
    ap.add_argument("--clients", type=int, default=10000, help="idle clients in 'conns'")
    ap.add_argument("--unpinned", action="store_true",
                    help="no CPU pinning; Tern with 2 I/O threads")
    ap.add_argument("--only", default="", help="comma-separated scenario names")
    ap.add_argument("--json", default="", help="also write every run's results here")
    ap.add_argument("--max-total", type=float, default=600, help="stop starting runs after this")
    args = ap.parse_args()
    if not args.tern or not args.bench:
        ap.error("build tern and tern-bench first, or pass --tern/--bench")
    args.io_threads = 2 if args.unpinned else 1
    cpu_broker, cpu_bench = (None, None) if args.unpinned else (0, 1)

    # SIGTERM ends us like Ctrl-C does: through the finally below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with SIGINT ignored
    nofile = benchlib.raise_nofile()
    if nofile < args.clients + 100:
        print("note: open files limit %d < %d: fewer idle clients will connect"
              % (nofile, args.clients + 100))

    chosen = [s for s in SCENARIOS if not args.only or s[0] in args.only.split(",")]
    results = {}
    start = time.monotonic()
    try:
        for i, (name, argv) in enumerate(chosen):
            order = ("tern", "mosquitto") if i % 2 == 0 else ("mosquitto", "tern")
            for which in order:
                if time.monotonic() - start > args.max_total:
                    print("stopping: --max-total reached")
                    break
                r = one_run(args, which, name, argv, cpu_broker, cpu_bench)
                results[(name, which)] = r
                print("  %-14s %-9s %s" % (name, which,
                                          r.get("error") or fmt_rate(r.get("msgs_per_s"))),
                      flush=True)
    except KeyboardInterrupt:
        print("interrupted: stopping everything started")
    finally:
        benchlib.stop_all()

    mode = ("unpinned, tern io_threads 2" if args.unpinned
            else "pinned: broker CPU 0 (io_threads 1), tern-bench CPU 1")
    print("\n%s\nmode: %s; %.0f s per run\n" % (machine(), mode, args.duration))
    hdr = "%-14s %11s %11s %7s %9s %9s %9s %9s  %s" % (
        "scenario", "tern msg/s", "mosq msg/s", "ratio", "tern us/m", "mosq us/m",
        "tern p99", "mosq p99", "clean (tern / mosq)")
    print(hdr)
    print("-" * len(hdr))
    for name, _ in chosen:
        t, m = results.get((name, "tern")), results.get((name, "mosquitto"))
        if not t or not m or name == "conns":
            continue
        ratio = t["msgs_per_s"] / m["msgs_per_s"] if m.get("msgs_per_s") else None

        def us(r):
            return "%.2f" % r["cpu_us_per_msg"] if r.get("cpu_us_per_msg") else "-"

        def p99(r):
            return "%.0fus" % r["latency_us"]["p99"] if "latency_us" in r else "-"

        print("%-14s %11s %11s %7s %9s %9s %9s %9s  %s / %s" % (
            name, fmt_rate(t.get("msgs_per_s")), fmt_rate(m.get("msgs_per_s")),
            "%.2fx" % ratio if ratio else "-", us(t), us(m), p99(t), p99(m), status(t),
            status(m)))
    mib = 1024.0 * 1024.0
    idle = {w: min((r["rss_idle"] for (n, ww), r in results.items() if ww == w), default=0)
            for w in ("tern", "mosquitto")}
    print("\nRSS idle: tern %.2f MiB, mosquitto %.2f MiB" % (idle["tern"] / mib,
                                                            idle["mosquitto"] / mib))
    for w in ("tern", "mosquitto"):
        r = results.get(("conns", w))
        if not r:
            continue
        n = r.get("connected", 0)
        per = (r["rss_peak"] - r["rss_idle"]) / n if n else 0
        print("RSS with %d idle clients: %-9s %.2f MiB peak, %.0f bytes/connection "
              "(connected %d, alive at end %d)%s" % (
                  args.clients, w, r["rss_peak"] / mib, per, n, r.get("alive_at_end", 0),
                  "  ERROR: " + r["error"] if r.get("error") else ""))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine(), "mode": mode,
                       "runs": [dict(r, name=n, broker=w) for (n, w), r in results.items()]},
                      f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Storage benchmark (issue 3 item 5, issue 7 item 3): Tern in memory against Tern with a
LevelDB store (--data-dir in a temporary directory) under the same QoS 1 load, alternating.

Fan-in: P publishers (default 4) send 64-byte QoS 1 messages to one subscriber that holds a
persistent session (v5 Session Expiry Interval), so with storage every message is written
(and deleted again once the subscriber acknowledges it) and each PUBACK to a publisher waits
for its commit (sync always / batch). Each run is bounded by --count and --duration.
Queue: the subscriber goes offline, the publishers fill its session, it reconnects and
drains (the queue lives on disk past its RAM window); and the same across a kill -9 and a
restart on the same directory (the queue comes back from disk).

For each mode: delivered msgs/s (median of --repeat runs), ratio to in memory, and per
delivered message the broker's write_bytes (what it caused to be written to the block
device, LevelDB's log, tables and compactions; from /proc/<pid>/io), wchar (every write()
call, sockets included, for reference) and CPU time. Mosquitto with persistence can be added
for reference (--mosquitto): it snapshots its whole database every 30 minutes and at
shutdown, so it writes nothing during a run and loses what came since the last snapshot.

  tests/bench/storage_bench.py [--repeat 3] [--count 300000] [--duration 5] [--mosquitto]
  tests/bench/storage_bench.py --smoke      # tiny counts: correctness only (CTest)

Payloads carry fresh pseudo-random filler after tern-bench's 24-byte header, so LevelDB's
Snappy compression of its tables does not flatter the byte counts.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from compare import machine, newest  # noqa: E402

# name -> storage YAML (None = in memory). A fresh temporary --data-dir per run.
MODES = {
    "memory": None,
    "batch": "storage:\n  sync: batch\n  batch_window: 5ms\n",
    "batch-1ms": "storage:\n  sync: batch\n  batch_window: 1ms\n",
    "batch-0ms": "storage:\n  sync: batch\n  batch_window: 0ms\n",
    "always": "storage:\n  sync: always\n",
    "none": "storage:\n  sync: none\n",
}
DEFAULT_MODES = "memory,batch,always,none"


def dir_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total


class Run:
    """One broker process for one measured run, with its temporary data directory."""

    def __init__(self, args, mode, workdir):
        self.args, self.mode, self.workdir = args, mode, workdir
        self.data = os.path.join(workdir, "data") if MODES.get(mode) else None
        self.broker = None

    def start(self, port=None):
        a = self.args
        if self.mode == "mosquitto":
            self.data = os.path.join(self.workdir, "mosq-db")
            os.makedirs(self.data, exist_ok=True)
            self.broker = benchlib.start_mosquitto(a.mosquitto_bin, cpu=a.cpu_broker,
                                                   workdir=self.workdir,
                                                   persistence_dir=self.data)
        else:
            extra_args = ["--data-dir", self.data] if self.data else []
            self.broker = benchlib.start_tern(a.tern, io_threads=a.io_threads,
                                              cpu=a.cpu_broker, workdir=self.workdir,
                                              extra_yaml=(MODES[self.mode] or "") +
                                              a.mqtt_yaml,
                                              extra_args=extra_args, port=port)
        return self.broker

    def bench(self, argv, settle=0.3):
        """Runs tern-bench; returns its JSON plus the broker's io, CPU and store deltas."""
        a, b = self.args, self.broker
        io0, cpu0 = b.io_counters(), b.cpu_seconds()
        code, r = benchlib.run_bench(a.bench, b.port, argv, cpu=a.cpu_bench,
                                     timeout=a.duration * 3 + 60)
        # Let the subscriber's last acknowledgements (deletes) reach the store.
        time.sleep(settle)
        io1, cpu1 = b.io_counters(), b.cpu_seconds()
        r.update(exit=code, broker_cpu_s=cpu1 - cpu0,
                 **{k: io1[k] - io0[k] for k in ("write_bytes", "wchar",
                                                 "cancelled_write_bytes", "syscw")})
        r["store_bytes"] = dir_bytes(self.data) if self.data else 0
        if b.proc.poll() is not None:
            r["error"] = (r.get("error") or "") + " broker exited"
        return r

    def stop(self):
        if self.broker:
            self.broker.stop()
            self.broker = None


def fanin_argv(a):
    return ["fanin", "-q", "1", "-P", str(a.publishers), "--payload", str(a.payload),
            "--random-payload",
            "--inflight", str(a.inflight), "--session-expiry", "3600", "--count",
            str(a.count), "--duration", str(a.duration), "--timeout", str(a.duration * 2 + 30),
            "--protocol", a.protocol]


def queue_argv(a, phase="both", nonce=0):
    argv = ["queue", "-q", "1", "-P", str(a.publishers), "--payload", str(a.payload),
            "--random-payload",
            "--inflight", str(a.inflight), "--session-expiry", "3600", "--count",
            str(a.queue_count), "--duration", str(a.duration * 2),
            "--timeout", str(a.duration * 3 + 30), "--protocol", a.protocol, "--phase", phase]
    if nonce:
        argv += ["--nonce", str(nonce)]
    return argv


def per_msg(r, key):
    d = r.get("delivered") or r.get("acked") or 0
    return r[key] / d if d and key in r else None


def problems(r, kind):
    """Correctness only: what is wrong with a run, empty when it is clean."""
    bad = []
    if r.get("error"):
        bad.append(r["error"].strip())
    if r.get("exit") not in (0, None):
        bad.append("exit %s" % r.get("exit"))
    for k in ("lost", "duplicates", "reordered", "foreign", "session_missing", "acks_missing"):
        if r.get(k):
            bad.append("%s=%d" % (k, r[k]))
    if kind != "fill" and (not r.get("delivered") or r.get("delivered") != r.get("expected")):
        bad.append("delivered %s of %s" % (r.get("delivered"), r.get("expected")))
    if kind == "fill" and r.get("acked") != r.get("sent"):
        bad.append("acked %s of %s" % (r.get("acked"), r.get("sent")))
    return bad


def run_fanin(a, mode):
    wd = tempfile.mkdtemp(prefix="tern-sbench-")
    run = Run(a, mode, wd)
    try:
        run.start()
        time.sleep(0.2)
        r = run.bench(fanin_argv(a))
    finally:
        run.stop()
        shutil.rmtree(wd, ignore_errors=True)
    r["problems"] = problems(r, "fanin")
    return r


def run_queue(a, mode, restart):
    """Fill an offline persistent session and drain it; with restart, the broker is killed
    (SIGKILL) once every publish is acknowledged and restarted on the same directory
    before the subscriber comes back."""
    wd = tempfile.mkdtemp(prefix="tern-sbench-")
    run = Run(a, mode, wd)
    try:
        b = run.start()
        time.sleep(0.2)
        if not restart:
            r = run.bench(queue_argv(a))
            r["problems"] = problems(r, "queue")
            return r
        fill = run.bench(queue_argv(a, "fill"))
        out = {"fill": fill, "problems": ["fill: " + p for p in problems(fill, "fill")]}
        if out["problems"]:
            return out
        port = b.port
        b.kill()
        run.broker = None
        t = time.monotonic()
        run.start(port=port)
        out["restart_s"] = time.monotonic() - t
        drain = run.bench(queue_argv(a, "drain", fill["nonce"]))
        out["drain"] = drain
        out["problems"] += ["drain: " + p for p in problems(drain, "drain")]
        return out
    finally:
        run.stop()
        shutil.rmtree(wd, ignore_errors=True)


def median(rs, key):
    vals = [r[key] for r in rs if r.get(key) is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return spec % v if v is not None else "-"


def print_fanin_table(a, results, modes):
    print("\nFan-in QoS 1: %d publishers -> 1 subscriber with a persistent session, %d-byte "
          "payloads (random filler), inflight %d per publisher, %s msgs or %.0f s per run, "
          "%d run(s) per mode (medians). Per delivered message: wr = write_bytes, cancel = "
          "cancelled_write_bytes (files deleted before writeback), net = wr - cancel, wchar "
          "= bytes passed to write() (files only: sockets use sendmsg)\n"
          % (a.publishers, a.payload, a.inflight, a.count, a.duration, a.repeat))
    hdr = "%-10s %9s %6s %9s %10s %9s %9s %9s %9s  %s" % (
        "mode", "msgs/s", "ratio", "wr B/msg", "cancel B/m", "net B/msg", "wchar B/m",
        "cpu us/m", "store KiB", "clean")
    print(hdr)
    print("-" * len(hdr))
    base = median(results.get("memory", []), "msgs_per_s")
    for m in modes:
        rs = results.get(m, [])
        if not rs:
            continue
        for r in rs:
            r["net_write_bytes"] = r["write_bytes"] - r["cancelled_write_bytes"]
            for k in ("write_bytes", "wchar", "cancelled_write_bytes", "net_write_bytes"):
                r[k + "_per_msg"] = per_msg(r, k)
            r["cpu_us_per_msg"] = (r["broker_cpu_s"] * 1e6 / r["delivered"]
                                   if r.get("delivered") else None)
        rate = median(rs, "msgs_per_s")
        ratio = rate / base if rate and base else None
        bad = sorted({p for r in rs for p in r["problems"]})
        print("%-10s %9s %6s %9s %10s %9s %9s %9s %9s  %s" % (
            m, fmt(rate, "%.0f"), fmt(ratio, "%.2f"),
            fmt(median(rs, "write_bytes_per_msg"), "%.0f"),
            fmt(median(rs, "cancelled_write_bytes_per_msg"), "%.0f"),
            fmt(median(rs, "net_write_bytes_per_msg"), "%.0f"),
            fmt(median(rs, "wchar_per_msg"), "%.0f"),
            fmt(median(rs, "cpu_us_per_msg"), "%.2f"),
            fmt(median(rs, "store_bytes") / 1024.0 if median(rs, "store_bytes") is not None
                else None, "%.0f"),
            "ok" if not bad else "; ".join(bad)[:80]))
    if "mosquitto" in results:
        print("(mosquitto: persistence true, autosave_interval 1800 s default: it writes its "
              "database only every 30 min and at shutdown, so nothing during the run)")


def print_queue_table(a, qres):
    print("\nQueue: the subscriber goes offline, %d publishers fill its session with %d "
          "QoS 1 messages, it reconnects (clean start 0) and drains\n"
          % (a.publishers, a.queue_count))
    hdr = "%-18s %11s %11s %9s %9s %9s %9s  %s" % (
        "mode", "fill msg/s", "drain msg/s", "wr B/msg", "net B/msg", "wchar B/m", "restart s",
        "clean")
    print(hdr)
    print("-" * len(hdr))
    for name, rs in qres.items():
        fills, drains, wbs, nets, wcs, rst = [], [], [], [], [], []
        for r in rs:
            f = r.get("fill", r)
            d = r.get("drain", r)
            fills.append(f.get("fill_msgs_per_s"))
            drains.append(d.get("msgs_per_s"))
            n = d.get("delivered") or 0

            def both(k):
                return f.get(k, 0) + (d.get(k, 0) if d is not f else 0)
            if n:
                wbs.append(both("write_bytes") / n)
                nets.append((both("write_bytes") - both("cancelled_write_bytes")) / n)
                wcs.append(both("wchar") / n)
            if "restart_s" in r:
                rst.append(r["restart_s"])

        def med(v):
            v = [x for x in v if x is not None]
            return statistics.median(v) if v else None
        bad = sorted({p for r in rs for p in r["problems"]})
        print("%-18s %11s %11s %9s %9s %9s %9s  %s" % (
            name, fmt(med(fills), "%.0f"), fmt(med(drains), "%.0f"), fmt(med(wbs), "%.0f"),
            fmt(med(nets), "%.0f"), fmt(med(wcs), "%.0f"), fmt(med(rst), "%.2f"),
            "ok" if not bad else "; ".join(bad)[:80]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tern", default=newest("build*/broker/app/tern"))
    ap.add_argument("--bench", default=newest("build*/tests/bench/tern-bench"))
    ap.add_argument("--modes", default=DEFAULT_MODES,
                    help="comma-separated, from: " + ",".join(MODES))
    ap.add_argument("--repeat", type=int, default=3, help="runs per mode, alternating order")
    ap.add_argument("--count", type=int, default=300000, help="messages per fan-in run")
    ap.add_argument("--queue-count", type=int, default=100000, help="messages per queue run")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds bound per run")
    ap.add_argument("--publishers", type=int, default=4)
    ap.add_argument("--inflight", type=int, default=64, help="per publisher (capped by the "
                    "broker's Receive Maximum, mqtt.max_inflight 32)")
    ap.add_argument("--max-inflight", type=int, default=0,
                    help="set Tern's mqtt.max_inflight (its Receive Maximum) in every mode")
    ap.add_argument("--max-inflight-out", type=int, default=0,
                    help="set Tern's mqtt.max_inflight_out (the window towards the "
                         "subscriber) in every mode")
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--protocol", default="5", choices=["5", "3.1.1"])
    ap.add_argument("--no-queue", action="store_true", help="skip the queue runs")
    ap.add_argument("--mosquitto", action="store_true",
                    help="add Mosquitto with persistence (snapshots) for reference")
    ap.add_argument("--mosquitto-bin", default="mosquitto")
    ap.add_argument("--pinned", action="store_true",
                    help="broker on CPU 0 (all its threads, storage included), bench on CPU 1")
    ap.add_argument("--io-threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true",
                    help="tiny counts, every mode, exit 1 on any loss/duplicate/reorder; no "
                         "speed is asserted")
    ap.add_argument("--json", default="", help="also write every run's results here")
    ap.add_argument("--max-total", type=float, default=900, help="stop starting runs after")
    a = ap.parse_args()
    if not a.tern or not a.bench:
        ap.error("build tern and tern-bench first, or pass --tern/--bench")
    a.cpu_broker, a.cpu_bench = (0, 1) if a.pinned else (None, None)
    mqtt = ""
    if a.max_inflight:
        mqtt += "  max_inflight: %d\n" % a.max_inflight
    if a.max_inflight_out:
        mqtt += "  max_inflight_out: %d\n" % a.max_inflight_out
    a.mqtt_yaml = "mqtt:\n" + mqtt if mqtt else ""
    modes = [m for m in a.modes.split(",") if m]
    for m in modes:
        if m not in MODES:
            ap.error("unknown mode %s" % m)
    if a.smoke:
        a.repeat, a.count, a.queue_count, a.duration = 1, 1000, 1000, 10.0
        modes = list(MODES)
    if a.mosquitto:
        MODES["mosquitto"] = None
        modes.append("mosquitto")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    start = time.monotonic()
    results, qres = {}, {}
    try:
        for rep in range(a.repeat):
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            for m in order:
                if time.monotonic() - start > a.max_total:
                    break
                r = run_fanin(a, m)
                results.setdefault(m, []).append(r)
                print("  fanin %-10s %10s msgs/s  write_bytes/msg %s  %s" % (
                    m, fmt(r.get("msgs_per_s"), "%.0f"),
                    fmt(per_msg(r, "write_bytes"), "%.1f"),
                    "ok" if not r["problems"] else r["problems"]), flush=True)
        if not a.no_queue:
            qmodes = [m for m in ("memory", "batch") if m in modes] or modes[:1]
            if a.smoke:
                qmodes = [m for m in MODES if m != "mosquitto"]
            plan = [(m, False) for m in qmodes]
            plan += [(m, True) for m in qmodes if MODES.get(m)]
            for rep in range(a.repeat):
                for m, restart in plan:
                    if time.monotonic() - start > a.max_total:
                        break
                    name = m + (" +kill-9" if restart else "")
                    r = run_queue(a, m, restart)
                    qres.setdefault(name, []).append(r)
                    print("  queue %-18s %s" % (name, "ok" if not r["problems"]
                                                 else r["problems"]), flush=True)
    except KeyboardInterrupt:
        print("interrupted: stopping everything started")
    finally:
        benchlib.stop_all()

    print("\n%s\n%s; tern io_threads %d; mqtt.max_inflight %s, max_inflight_out %s" % (
        machine(), "pinned: broker CPU 0, tern-bench CPU 1" if a.pinned else "unpinned",
        a.io_threads, a.max_inflight or "(default)", a.max_inflight_out or "(default)"))
    print_fanin_table(a, results, modes)
    if qres:
        print_queue_table(a, qres)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "args": vars(a), "fanin": results,
                       "queue": qres}, f, indent=1, default=str)
    failed = [p for rs in list(results.values()) + list(qres.values()) for r in rs
              for p in r["problems"]]
    if a.smoke:
        print("\nsmoke: %s" % ("FAIL" if failed else "ok (correctness only, no speed asserted)"))
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())

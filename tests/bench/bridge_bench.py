#!/usr/bin/env python3
"""Bridge drain benchmark (issue 4 item 8): how fast Tern's bridge drains a backlog of queued
QoS 1 messages into a loopback Mosquitto, against Mosquitto's own QoS 1 ingest rate measured
in the same run (target: drain >= 0.8 of it, the bridge is never the bottleneck).

One round:
 1. Mosquitto (persistence false) on a free loopback port M. Its QoS 1 ingest, by tern-bench
    straight into it: "ingest" (1 publisher, no subscriber: PUBLISH -> PUBACK only),
    "fanin-1" (1 publisher -> 1 subscriber: the shape of the drain, one connection with the
    bridge's in-flight window publishing, one subscriber taking it) and "fanin-4" (4
    publishers). Mosquitto is then stopped.
 2. Tern with storage (--data-dir in a temporary directory, `sync: batch`) and one bridge to
    mqtt://127.0.0.1:M (MQTT 5, out rule `tern-bench/#` at QoS 1, remote prefix `up/`,
    drain.max_inflight --inflight, reconnect 50-100 ms). With the uplink down, tern-bench
    publishes --count QoS 1 64-byte messages locally (`queue --phase fill -S 0`): every one
    is acknowledged only once it is in the bridge's durable queue.
 3. Tern is paused (SIGSTOP), Mosquitto started again on M, a subscriber (`queue --phase
    receive`) subscribes to `up/tern-bench/<nonce>/t` and reports ready, Tern is resumed
    (SIGCONT): the clock starts. The bridge reconnects and drains; the subscriber checks
    that every message arrives once and in order (per publisher) and reports its first and
    last delivery. drain msgs/s = count / (last delivery - resume); "stream" leaves out the
    reconnect (count / (last - first delivery)).
 4. Mosquitto's ingest runs again (same process), so each round has a reference before and
    after its drain. CPU per process (and per Tern thread) over the drain is recorded.

The ratio is drain / fanin-1 (same shape); the table shows it against ingest and fanin-4 too.

  tests/bench/bridge_bench.py [--count 100000] [--repeat 3] [--modes durable,memory]
  tests/bench/bridge_bench.py --smoke    # tiny counts: correctness only (CTest)

Loopback only; every process started is stopped on exit, Ctrl-C or SIGTERM; --max-total
bounds the whole run.
"""

import argparse
import json
import os
import random
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from compare import machine, newest  # noqa: E402

# mode -> storage YAML ("" = in memory, no --data-dir). durable is the default configuration;
# the others show what the commit window and fsync cost.
STORAGE_YAML = {
    "durable": "storage:\n  sync: batch\n",
    "durable-0ms": "storage:\n  sync: batch\n  batch_window: 0ms\n",
    "durable-none": "storage:\n  sync: none\n",
    "memory": "",
}
SMOKE_MODES = ["durable", "memory"]
REMOTE_PREFIX = "up/"


def bridge_yaml(a, mode, mport):
    return STORAGE_YAML[mode] + (
        "bridges:\n"
        "  - name: bench\n"
        "    remote: \"mqtt://127.0.0.1:%d\"\n"
        "    protocol: \"%s\"\n"
        "    client_id: tern-bridge-bench\n"
        "    reconnect: { min: 50ms, max: 100ms, jitter: false }\n"
        "    queue: { max_messages: %d, max_bytes: 1GiB }\n"
        "    drain: { max_inflight: %d }\n"
        "    topics:\n"
        "      - { pattern: \"tern-bench/#\", direction: out, qos: 1, remote_prefix: \"%s\" }\n"
        % (mport, "5.0" if a.protocol == "5" else "3.1.1", max(a.count * 2, 1000), a.inflight,
           REMOTE_PREFIX))


def problems(r, kind):
    """Correctness only: what is wrong with one tern-bench run, empty when it is clean."""
    bad = []
    if r.get("error"):
        bad.append(r["error"].strip())
    if r.get("exit") not in (0, None):
        bad.append("exit %s" % r.get("exit"))
    for k in ("lost", "duplicates", "reordered", "foreign", "acks_missing"):
        if r.get(k):
            bad.append("%s=%d" % (k, r[k]))
    if kind == "fill":
        if r.get("acked") != r.get("sent") or not r.get("sent"):
            bad.append("acked %s of %s" % (r.get("acked"), r.get("sent")))
    elif not r.get("delivered") or r.get("delivered") != r.get("expected"):
        bad.append("delivered %s of %s" % (r.get("delivered"), r.get("expected")))
    return bad


def bench(a, port, argv, cpu=None, broker=None):
    """One tern-bench run; with broker, also the broker's CPU seconds and context switches
    over it (mosq_cpu_s, mosq_switches)."""
    before = broker.thread_stats() if broker else {}
    code, r = benchlib.run_bench(a.bench, port, argv, cpu=cpu, timeout=a.timeout + 30)
    r["exit"] = code
    if broker:
        after = broker.thread_stats()
        r["mosq_cpu_s"] = sum(v[0] - before.get(k, [0.0, 0])[0] for k, v in after.items())
        r["mosq_switches"] = sum(v[1] - before.get(k, [0.0, 0])[1] for k, v in after.items())
    return r


def ref_runs(a, mosq):
    """Mosquitto's own QoS 1 ingest, straight from tern-bench, and what a Paho publisher
    reaches into it. Returns {name: result}, each with "rate"."""
    common = ["-q", "1", "--payload", str(a.payload), "--inflight", str(a.inflight),
              "-n", str(a.count), "--protocol", a.protocol, "--timeout", str(a.timeout)]
    out = {}
    r = bench(a, mosq.port, ["queue", "--phase", "fill", "-S", "0", "-P", "1",
                             "-d", str(a.timeout)] + common, cpu=a.cpu_bench, broker=mosq)
    r["rate"] = r.get("fill_msgs_per_s")
    r["problems"] = problems(r, "fill")
    out["ingest"] = r
    for name, pubs in (("fanin-1", 1), ("fanin-4", 4)):
        r = bench(a, mosq.port, ["fanin", "-P", str(pubs), "-d", str(a.timeout)] + common,
                  cpu=a.cpu_bench, broker=mosq)
        r["rate"] = r.get("msgs_per_s")
        r["problems"] = problems(r, "fanin")
        out[name] = r
    if a.paho_pub:
        for name, mode in (("paho", "direct"), ("paho-hop", "handoff")):
            out[name] = paho_run(a, mosq, mode)
    return out


def paho_run(a, mosq, mode):
    """tern-paho-pub into Mosquitto with the receiver subscribed, as in a drain: Paho's own
    rate (direct: publishing from Paho's callback thread; handoff: through one more thread
    per message, as the bridge does). rate = the receiver's first to last delivery."""
    nonce = random.randrange(1, 2 ** 31)
    recv = start_receiver(a, mosq.port, nonce, 1)
    before = mosq.thread_stats()
    argv = [a.paho_pub, "-p", str(mosq.port), "-n", str(a.count), "--window", str(a.inflight),
            "--nonce", str(nonce), "--payload", str(a.payload), "--topic-prefix",
            REMOTE_PREFIX, "--mode", mode, "--protocol", a.protocol,
            "--timeout", str(a.timeout)]
    if a.cpu_tern is not None:
        argv = ["taskset", "-c", str(a.cpu_tern)] + argv
    try:
        p = subprocess.run(argv, capture_output=True, timeout=a.timeout + 30)
        pub = json.loads(p.stdout.decode().strip().splitlines()[-1])
        pub["exit"] = p.returncode
    except (subprocess.TimeoutExpired, ValueError, IndexError) as e:
        pub = {"error": "tern-paho-pub: %s" % e}
    r = finish_receiver(a, recv)
    after = mosq.thread_stats()
    r["mosq_cpu_s"] = sum(v[0] - before.get(k, [0.0, 0])[0] for k, v in after.items())
    r["mosq_switches"] = sum(v[1] - before.get(k, [0.0, 0])[1] for k, v in after.items())
    r["publisher"] = pub
    first, last = r.get("first_delivery_ns") or 0, r.get("last_delivery_ns") or 0
    r["rate"] = r.get("delivered", 0) / ((last - first) / 1e9) if last > first else None
    r["problems"] = problems(r, "receive")
    if pub.get("exit") != 0:
        r["problems"].append("publisher: %s" % (pub.get("error") or "exit %s" % pub.get("exit")))
    r["publisher_cpu_us"] = (pub["cpu_s"] * 1e6 / pub["acked"]
                             if pub.get("acked") and "cpu_s" in pub else None)
    return r


def start_receiver(a, port, nonce, publishers):
    argv = [a.bench, "queue", "--phase", "receive", "--nonce", str(nonce), "-n", str(a.count),
            "-P", str(publishers), "-q", "1", "--payload", str(a.payload),
            "--topic-prefix", REMOTE_PREFIX, "--protocol", a.protocol,
            "--timeout", str(a.timeout), "--host", "127.0.0.1", "--port", str(port), "--json"]
    if a.cpu_bench is not None:
        argv = ["taskset", "-c", str(a.cpu_bench)] + argv
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    benchlib._children.append(proc)
    deadline = time.monotonic() + 15
    line = b""
    while time.monotonic() < deadline and proc.poll() is None:
        ready, _, _ = select.select([proc.stderr], [], [], 0.1)
        if ready:
            line += os.read(proc.stderr.fileno(), 4096)
            if b"ready\n" in line:
                return proc
    benchlib.stop(proc, grace=1.0)
    raise RuntimeError("receiver not ready: %s" % line.decode(errors="replace")[-300:])


def finish_receiver(a, proc):
    try:
        out, err = proc.communicate(timeout=a.timeout + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    if proc in benchlib._children:
        benchlib._children.remove(proc)
    try:
        r = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        r = {"error": "no JSON from the receiver: " + err.decode(errors="replace")[-300:]}
    r["exit"] = proc.returncode
    return r


def drain_run(a, mode, mport, wd):
    """Steps 2 and 3 of a round; Mosquitto is down on mport when called. Returns (result,
    the Mosquitto now running on mport)."""
    data = os.path.join(wd, "data")
    extra_args = ["--data-dir", data] if STORAGE_YAML[mode] else []
    out = {"mode": mode}
    tern = benchlib.start_tern(a.tern, io_threads=a.io_threads, cpu=a.cpu_tern, workdir=wd,
                               extra_yaml=bridge_yaml(a, mode, mport) + a.mqtt_yaml,
                               extra_args=extra_args, log_level="info")
    time.sleep(0.3)
    fill = bench(a, tern.port, ["queue", "--phase", "fill", "-S", "0", "-P", str(a.fill_pubs),
                                "-q", "1", "--payload", str(a.payload), "-n", str(a.count),
                                "--inflight", "64", "-d", str(a.timeout), "--timeout",
                                str(a.timeout), "--protocol", a.protocol], cpu=a.cpu_bench)
    out["fill"] = fill
    out["problems"] = ["fill: " + p for p in problems(fill, "fill")]
    if tern.proc.poll() is not None:
        out["problems"].append("tern exited")
    if out["problems"]:
        out["tern_log"] = tail(os.path.join(wd, "tern.log"), 40)
        return out, None
    time.sleep(0.2)  # the last acknowledgements' commits
    tern.pause()
    mosq = benchlib.start_mosquitto(a.mosquitto_bin, cpu=a.cpu_mosq, workdir=wd, port=mport,
                                    extra_conf=a.mosq_conf)
    recv = start_receiver(a, mport, fill["nonce"], a.fill_pubs)
    perf = None
    if a.perf:
        # Samples Tern's threads (broker, storage, bridge, Paho) over the drain only.
        perf = subprocess.Popen(["perf", "record", "-q", "-F", "499", "-g", "-p",
                                 str(tern.proc.pid), "-o", "%s/perf-%s-%d.data" % (
                                     a.perf, mode, int(time.time()))],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        benchlib._children.append(perf)
    cpu0 = (tern.thread_stats(by_rank=True), mosq.thread_stats())
    t0 = time.monotonic()
    tern.resume()
    r = finish_receiver(a, recv)
    t_end = time.monotonic()
    if perf is not None:
        perf.send_signal(signal.SIGINT)  # perf writes its file on SIGINT
        try:
            perf.wait(30)
        except subprocess.TimeoutExpired:
            perf.kill()
        benchlib._children.remove(perf)
    tern_st, mosq_st = tern.thread_stats(by_rank=True), mosq.thread_stats()
    out["receive"] = r
    out["problems"] += ["drain: " + p for p in problems(r, "receive")]
    if tern.proc.poll() is not None:
        out["problems"].append("tern exited")
    t0_ns = t0 * 1e9
    first, last = r.get("first_delivery_ns") or 0, r.get("last_delivery_ns") or 0
    n = r.get("delivered") or 0
    if n and last > t0_ns:
        out["drain_s"] = (last - t0_ns) / 1e9
        out["rate"] = n / out["drain_s"]
        out["connect_ms"] = (first - t0_ns) / 1e6
        out["stream_rate"] = n / ((last - first) / 1e9) if last > first else None
    wall = t_end - t0
    def delta(after, before):
        """{thread name: [CPU s, context switches]} over the drain, busy threads only."""
        d = {k: [v[0] - before.get(k, [0.0, 0])[0], v[1] - before.get(k, [0.0, 0])[1]]
             for k, v in after.items()}
        return {k: v for k, v in d.items() if v[0] > 0.005 or v[1] > 10}
    out["cpu"] = {
        "wall_s": wall,
        "delivered": n,
        "mosquitto": [sum(v[0] for v in delta(mosq_st, cpu0[1]).values()),
                      sum(v[1] for v in delta(mosq_st, cpu0[1]).values())],
        "receiver_s": r.get("bench_cpu_s"),
        "tern_threads": delta(tern_st, cpu0[0]),
    }
    out["tern_log"] = tail(os.path.join(wd, "tern.log"), 40)
    tern.stop()
    return out, mosq


def tail(path, n):
    try:
        with open(path, errors="replace") as f:
            return f.readlines()[-n:]
    except OSError:
        return []


def run_round(a, mode):
    wd = tempfile.mkdtemp(prefix="tern-bbench-")
    res = {"mode": mode, "refs": []}
    mosq = None
    try:
        mosq = benchlib.start_mosquitto(a.mosquitto_bin, cpu=a.cpu_mosq, workdir=wd,
                                        extra_conf=a.mosq_conf)
        mport = mosq.port
        time.sleep(0.2)
        res["refs"].append(ref_runs(a, mosq))
        mosq.stop()
        mosq = None
        d, mosq = drain_run(a, mode, mport, wd)
        res["drain"] = d
        if mosq is not None:
            res["refs"].append(ref_runs(a, mosq))
    finally:
        if mosq is not None:
            mosq.stop()
        benchlib.stop_all()
        if not a.keep:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            res["workdir"] = wd
    res["problems"] = list(res.get("drain", {}).get("problems", ["no drain"]))
    for refs in res["refs"]:
        for name, r in refs.items():
            res["problems"] += ["%s: %s" % (name, p) for p in r["problems"]]
    res["problems"] = [p for p in res["problems"] if p]
    return res


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return spec % v if v is not None else "-"


def ratio(x, y):
    return x / y if x and y else None


REFS = ("ingest", "fanin-1", "fanin-4", "paho", "paho-hop")


def ref_rate(rd, name):
    return med([r[name]["rate"] for r in rd["refs"] if name in r])


def print_tables(a, rounds):
    print("\nDrain of %d queued QoS 1 messages (%d-byte payloads) from Tern's bridge into "
          "Mosquitto (persistence false) on loopback, MQTT %s, bridge drain.max_inflight %d "
          "(capped by Mosquitto's Receive Maximum), fill by %d publisher(s). drain = count / "
          "(last delivery - Tern resumed), incl. the reconnect (conn ms: resume to first "
          "delivery); stream = count / (last - first delivery).\n"
          % (a.count, a.payload, a.protocol, a.inflight, a.fill_pubs))
    hdr = "%-3s %-12s %10s %8s %10s %10s  %s" % (
        "#", "mode", "fill msg/s", "conn ms", "drain m/s", "stream m/s", "clean")
    print(hdr)
    print("-" * len(hdr))
    for i, rd in enumerate(rounds):
        d = rd.get("drain", {})
        print("%-3d %-12s %10s %8s %10s %10s  %s" % (
            i + 1, rd["mode"], fmt(d.get("fill", {}).get("fill_msgs_per_s"), "%.0f"),
            fmt(d.get("connect_ms"), "%.0f"), fmt(d.get("rate"), "%.0f"),
            fmt(d.get("stream_rate"), "%.0f"),
            "ok" if not rd["problems"] else "; ".join(rd["problems"])[:100]))
    print("\nReferences, straight into the same Mosquitto before and after each drain (median "
          "of the two), msgs/s: ingest = tern-bench, 1 QoS 1 publisher, no subscriber; "
          "fanin-1 / fanin-4 = tern-bench, 1 / 4 publishers -> 1 subscriber; paho = "
          "tern-paho-pub (Paho MQTT C++, publishing from its callback) -> the drain's "
          "subscriber; paho-hop = the same with each acknowledgement handed to another "
          "thread first, as the bridge does. Window %d (capped by Receive Maximum).\n"
          % a.inflight)
    hdr = "%-3s %-12s" % ("#", "mode") + "".join(" %10s" % n for n in REFS)
    print(hdr)
    print("-" * len(hdr))
    for i, rd in enumerate(rounds):
        print("%-3d %-12s" % (i + 1, rd["mode"]) +
              "".join(" %10s" % fmt(ref_rate(rd, n), "%.0f") for n in REFS))
    print()
    for mode in a.modes:
        rs = [rd for rd in rounds if rd["mode"] == mode]
        if not rs:
            continue
        rate = med([rd.get("drain", {}).get("rate") for rd in rs])
        stream = med([rd.get("drain", {}).get("stream_rate") for rd in rs])
        refs = {n: med([ref_rate(rd, n) for rd in rs]) for n in REFS}
        rt = ratio(rate, refs["fanin-1"])
        print("%-12s median of %d: drain %s msgs/s (stream %s) / Mosquitto fanin-1 %s = "
              "ratio %s (target >= 0.80: %s); stream / fanin-1 %s; vs ingest %s, fanin-4 %s; "
              "stream / paho %s, / paho-hop %s" % (
                  mode, len(rs), fmt(rate, "%.0f"), fmt(stream, "%.0f"),
                  fmt(refs["fanin-1"], "%.0f"), fmt(rt, "%.2f"),
                  "-" if rt is None else ("met" if rt >= 0.8 else "MISSED"),
                  fmt(ratio(stream, refs["fanin-1"]), "%.2f"),
                  fmt(ratio(rate, refs["ingest"]), "%.2f"),
                  fmt(ratio(rate, refs["fanin-4"]), "%.2f"),
                  fmt(ratio(stream, refs["paho"]), "%.2f"),
                  fmt(ratio(stream, refs["paho-hop"]), "%.2f")))
    print("\nPer message in the reference runs (medians): Mosquitto CPU us and context "
          "switches; tern-paho-pub CPU us (all its threads)")
    for name in REFS:
        rs = [r[name] for rd in rounds for r in rd["refs"] if name in r]
        n = [r.get("acked") if name == "ingest" else r.get("delivered") for r in rs]
        us = med([r["mosq_cpu_s"] * 1e6 / k for r, k in zip(rs, n) if k and "mosq_cpu_s" in r])
        sw = med([r["mosq_switches"] / k for r, k in zip(rs, n) if k and "mosq_switches" in r])
        pub = med([r.get("publisher_cpu_us") for r in rs])
        print("  %-9s mosquitto %s us/msg, %s sw/msg%s" % (
            name, fmt(us, "%.1f"), fmt(sw, "%.2f"),
            "; publisher %s us/msg" % fmt(pub, "%.1f") if pub is not None else ""))
    print("\nOver each drain: CPU seconds (% of wall time) and context switches per message "
          "(sw/m); Tern per thread, numbered in creation order (Tern's own are all named tern: "
          "#1 main, then the io loop(s), the storage committer (with storage), the bridge's "
          "loop, LevelDB's compaction thread when it starts; Paho's are MQTTAsync_*):")
    for i, rd in enumerate(rounds):
        c = rd.get("drain", {}).get("cpu")
        if not c:
            continue
        w = c["wall_s"] or 1
        n = c.get("delivered") or 1

        def one(v):
            return "%.2fs (%.0f%%) %.1f sw/m" % (v[0], 100 * v[0] / w, v[1] / n)
        threads = ", ".join("%s %s" % (k, one(v)) for k, v in
                            sorted(c["tern_threads"].items(), key=lambda kv: -kv[1][0]))
        tot = [sum(v[0] for v in c["tern_threads"].values()),
               sum(v[1] for v in c["tern_threads"].values())]
        print("%-3d %-8s wall %.2fs; mosquitto %s; receiver %s; tern total %s, %.1f us CPU/msg: "
              "%s" % (i + 1, rd["mode"], w, one(c["mosquitto"]),
                      "%.2fs" % c["receiver_s"] if c.get("receiver_s") is not None else "-",
                      one(tot), tot[0] * 1e6 / n, threads or "-"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tern", default=newest("build*/broker/app/tern"))
    ap.add_argument("--bench", default=newest("build*/tests/bench/tern-bench"))
    ap.add_argument("--mosquitto-bin", default="mosquitto")
    ap.add_argument("--paho-pub", default=newest("build*/tests/bench/tern-paho-pub"),
                    help="tern-paho-pub for the Paho reference runs ('' to skip them)")
    ap.add_argument("--count", type=int, default=100000, help="queued messages per drain")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per mode, modes alternating")
    ap.add_argument("--modes", default="durable",
                    help="comma-separated: durable (LevelDB, sync batch, 5 ms window), "
                         "durable-0ms, durable-none (sync none), memory (no storage)")
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--inflight", type=int, default=64,
                    help="bridge drain.max_inflight, and the reference publishers' window")
    ap.add_argument("--fill-publishers", type=int, default=4, dest="fill_pubs",
                    help="publishers filling the backlog (order is checked per publisher)")
    ap.add_argument("--mosq-inflight", type=int, default=0,
                    help="Mosquitto max_inflight_messages (its v5 Receive Maximum; "
                         "default 20)")
    ap.add_argument("--max-inflight", type=int, default=0,
                    help="Tern mqtt.max_inflight (its Receive Maximum; default 32)")
    ap.add_argument("--protocol", default="5", choices=["5", "3.1.1"],
                    help="of the bridge and of every tern-bench client")
    ap.add_argument("--io-threads", type=int, default=1)
    ap.add_argument("--pinned", action="store_true",
                    help="Mosquitto on CPU 0; Tern and tern-bench on CPU 1")
    ap.add_argument("--timeout", type=float, default=120, help="bound on each client run, s")
    ap.add_argument("--max-total", type=float, default=900, help="no new round after, s")
    ap.add_argument("--keep", action="store_true", help="keep each round's directory (logs)")
    ap.add_argument("--perf", default="",
                    help="directory: perf record -g of Tern over each drain (perf-<mode>-<t>.data)")
    ap.add_argument("--smoke", action="store_true",
                    help="1,000 messages, one round per mode, exit 1 on any loss, duplicate "
                         "or reordering; no speed asserted")
    ap.add_argument("--json", default="", help="also write every round's results here")
    a = ap.parse_args()
    if not a.tern or not a.bench:
        ap.error("build tern and tern-bench first, or pass --tern/--bench")
    if shutil.which(a.mosquitto_bin) is None:
        print("mosquitto not found: skipped")
        return 77
    if a.paho_pub and not os.access(a.paho_pub, os.X_OK):
        print("%s not built: the Paho reference runs are skipped" % a.paho_pub)
        a.paho_pub = ""
    a.modes = [m for m in a.modes.split(",") if m]
    for m in a.modes:
        if m not in STORAGE_YAML:
            ap.error("unknown mode %s" % m)
    if a.smoke:
        a.count, a.repeat, a.timeout = 1000, 1, 30
        a.modes = SMOKE_MODES
    a.cpu_mosq, a.cpu_tern, a.cpu_bench = (0, 1, 1) if a.pinned else (None, None, None)
    a.mosq_conf = ("max_inflight_messages %d\n" % a.mosq_inflight) if a.mosq_inflight else ""
    a.mqtt_yaml = "mqtt:\n  max_inflight: %d\n" % a.max_inflight if a.max_inflight else ""
    benchlib.raise_nofile()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))

    rounds = []
    start = time.monotonic()
    try:
        for rep in range(a.repeat):
            order = a.modes if rep % 2 == 0 else list(reversed(a.modes))
            for mode in order:
                if time.monotonic() - start > a.max_total:
                    break
                rd = run_round(a, mode)
                rounds.append(rd)
                d = rd.get("drain", {})
                print("  round %d %-8s drain %s msgs/s (connect %s ms)  %s" % (
                    len(rounds), mode, fmt(d.get("rate"), "%.0f"),
                    fmt(d.get("connect_ms"), "%.0f"),
                    "ok" if not rd["problems"] else rd["problems"]), flush=True)
                if rd["problems"] and d.get("tern_log"):
                    print("    tern log tail:\n    " + "    ".join(d["tern_log"][-10:]))
    except KeyboardInterrupt:
        print("interrupted: stopping everything started")
    finally:
        benchlib.stop_all()

    print("\n%s\n%s; tern io_threads %d, mqtt.max_inflight %s; mosquitto max_inflight_messages "
          "%s" % (machine(), "pinned: mosquitto CPU 0, tern and tern-bench CPU 1" if a.pinned
                  else "unpinned", a.io_threads, a.max_inflight or "32 (default)",
                  a.mosq_inflight or "20 (default)"))
    print_tables(a, rounds)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"machine": machine(), "args": vars(a), "rounds": rounds}, f, indent=1,
                      default=str)
    failed = [p for rd in rounds for p in rd["problems"]]
    if a.smoke:
        ok = not failed and len(rounds) == len(a.modes)
        print("\nsmoke: %s" % ("ok (correctness only, no speed asserted)" if ok else "FAIL"))
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

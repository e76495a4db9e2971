#!/usr/bin/env python3
"""Tern's footprint in one table: for each build variant, the stripped size of the `tern`
binary, the shared libraries it needs, and (native builds only) its idle memory on the
default configuration (configs/tern.yaml, in memory, no storage) with 0, 1,000 and 10,000
idle clients. Python 3 standard library only; loopback only; bounded in time.

Variants (each a CMake build directory; `--build` configures and builds the missing ones,
MinSizeRel, target `tern` only, tests off):
  full       build-foot            everything (OpenSSL, bridge, WebSocket)
  nobridge   build-foot-nobridge   -DTERN_WITH_BRIDGE=OFF (no Paho)
  nows       build-foot-nows       -DTERN_WITH_WEBSOCKET=OFF
  mbedtls    build-foot-mbedtls    -DTERN_TLS=mbedtls (Paho C still brings OpenSSL along)
  minimal    build-foot-minimal    mbed TLS, no bridge, no WebSocket
  arm64      build-arm64           cross build (.ci/cross.sh): size and libraries only
  armhf      build-armhf           cross build: size and libraries only
Memory of ARM binaries under qemu-user is qemu's, not Tern's: it is not reported.

Memory columns (kB, from /proc/PID/status and smaps_rollup, read 1 s after "ready:"):
  rss      VmRSS: every resident page mapped, shared library pages included
  pss      proportional share: shared pages divided by the processes mapping them
  private  Private_Clean + Private_Dirty: what only this process holds (what stopping it
           would give back)
  anon     RssAnon: heap, thread stacks, relocated data
With clients: the peak VmRSS while tern-bench `conns` holds them, and bytes per client.

  tests/bench/footprint.py                 # existing build dirs only
  tests/bench/footprint.py --build         # build missing native variants first (~5 min each)
  tests/bench/footprint.py --only full,arm64 --conns 1000 --json /tmp/f.json
  tests/bench/footprint.py --only arm64,armhf --conns '' --max-stripped-kib 2048   # a CI gate
  tests/bench/footprint.py --dir full=build --only full   # any existing build directory
"""

import argparse
import glob
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# name, build dir, extra CMake options, strip tool (None: native)
VARIANTS = [
    ("full", "build-foot", [], None),
    ("nobridge", "build-foot-nobridge", ["-DTERN_WITH_BRIDGE=OFF"], None),
    ("nows", "build-foot-nows", ["-DTERN_WITH_WEBSOCKET=OFF"], None),
    ("mbedtls", "build-foot-mbedtls", ["-DTERN_TLS=mbedtls"], None),
    ("minimal", "build-foot-minimal",
     ["-DTERN_TLS=mbedtls", "-DTERN_WITH_BRIDGE=OFF", "-DTERN_WITH_WEBSOCKET=OFF"], None),
    ("arm64", "build-arm64", None, "aarch64-linux-gnu-strip"),
    ("armhf", "build-armhf", None, "arm-linux-gnueabihf-strip"),
]

_children = []


def stop(proc, grace=5.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _children:
        _children.remove(proc)


def stop_all(*_):
    for p in list(_children):
        stop(p, grace=2.0)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def build(bdir, options, deadline):
    """Configure and build `tern` (MinSizeRel, tests off) in ROOT/bdir."""
    path = os.path.join(ROOT, bdir)
    cfg = ["cmake", "-S", ROOT, "-B", path, "-DCMAKE_BUILD_TYPE=MinSizeRel",
           "-DTERN_BUILD_TESTS=OFF"] + options
    for argv in (cfg, ["cmake", "--build", path, "--target", "tern", "-j2"]):
        left = deadline - time.monotonic()
        if left <= 0:
            raise RuntimeError("out of time building %s" % bdir)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=left)
        if r.returncode != 0:
            sys.stderr.write(r.stdout[-3000:])
            raise RuntimeError("%s failed in %s" % (argv[1], bdir))


def cache_value(bdir, key):
    try:
        with open(os.path.join(bdir, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def stripped_size(binary, strip_tool):
    tool = strip_tool or "strip"
    if shutil.which(tool) is None:
        return None
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "tern")
        subprocess.run([tool, "-o", out, binary], check=True)
        return os.path.getsize(out)


def needed_libs(binary):
    r = subprocess.run(["readelf", "-d", binary], stdout=subprocess.PIPE, text=True, check=True)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", r.stdout)


def proc_memory(pid):
    """kB: VmRSS, VmHWM, RssAnon, Threads from status; Pss and private from smaps_rollup."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "Threads"):
                out[k] = int(v.split()[0])
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            roll = {}
            for line in f:
                m = re.match(r"(\w+):\s+(\d+) kB", line)
                if m:
                    roll[m.group(1)] = int(m.group(2))
        out["Pss"] = roll.get("Pss", 0)
        out["Private"] = roll.get("Private_Clean", 0) + roll.get("Private_Dirty", 0)
    except OSError:
        out["Pss"] = out["Private"] = 0
    return out


# A configuration that needs a left-out feature must be refused with this message.
FEATURE_CHECKS = {
    "TERN_WITH_BRIDGE": (
        "bridges:\n  - name: cloud\n    remote: \"mqtt://127.0.0.1:1\"\n"
        "    topics: [{pattern: \"a/#\"}]\n", "this build has no bridge support"),
    "TERN_WITH_WEBSOCKET": (
        "listeners:\n  - {name: ws, bind: \"127.0.0.1:0\", protocol: websocket}\n",
        "built without WebSocket"),
}


def check_features(tern, bdir):
    """For each feature, 'on' when a config using it passes --check-config, 'refused' when
    it is rejected with the expected message, else what went wrong."""
    out = {}
    for option, (yaml, message) in FEATURE_CHECKS.items():
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write(yaml)
            f.flush()
            r = subprocess.run([tern, "--check-config", f.name], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=30)
        enabled = cache_value(bdir, option).upper() not in ("OFF", "0", "FALSE", "NO")
        if enabled:
            out[option] = "on" if r.returncode == 0 else "FAILED: " + r.stdout.strip()[:200]
        else:
            ok = r.returncode == 1 and message in r.stdout
            out[option] = "refused" if ok else "NOT REFUSED: " + r.stdout.strip()[:200]
    return out


def find_bench(explicit):
    if explicit:
        return explicit
    found = glob.glob(os.path.join(ROOT, "build*", "tests", "bench", "tern-bench"))
    return max(found, key=os.path.getmtime) if found else None


def start_broker(tern, workdir, env_extra):
    log_path = os.path.join(workdir, "tern.log")
    log = open(log_path, "wb")
    env = dict(os.environ)
    env.update(env_extra)
    argv = [tern, "-c", os.path.join(ROOT, "configs", "tern.yaml"), "--bind", "127.0.0.1",
            "--port", "0"]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL, start_new_session=True, env=env)
    log.close()
    _children.append(proc)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("tern exited with %s: %s" % (proc.returncode,
                                                            open(log_path).read()[-500:]))
        with open(log_path, errors="replace") as f:
            m = re.search(r"ready: .*?mqtt=127\.0\.0\.1:(\d+)", f.read())
        if m:
            return proc, int(m.group(1))
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("tern printed no ready: line within 10 s")


def hold_clients(bench, port, pid, clients, hold):
    """Peak VmRSS (kB) while tern-bench holds `clients` idle connections, and how many it
    had connected."""
    argv = [bench, "conns", "--host", "127.0.0.1", "-p", str(port), "-C", str(clients),
            "-d", str(hold), "--timeout", str(hold + 60), "--json"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    _children.append(proc)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc_memory(pid)["VmRSS"])
        except OSError:
            break
        time.sleep(0.1)
    out = proc.stdout.read()
    _children.remove(proc)
    connected = None
    for line in out.splitlines()[::-1]:
        try:
            connected = json.loads(line).get("connected")
            break
        except ValueError:
            continue
    return peak, connected


def measure(tern, bench, conns, hold, env_extra):
    workdir = tempfile.mkdtemp(prefix="tern-footprint-")
    proc, port = start_broker(tern, workdir, env_extra)
    try:
        time.sleep(1.0)
        row = {"idle": proc_memory(proc.pid), "clients": {}}
        for n in conns:
            if bench is None:
                break
            peak, connected = hold_clients(bench, port, proc.pid, n, hold)
            row["clients"][n] = {"peak_rss_kb": peak, "connected": connected}
            time.sleep(0.5)  # let the disconnects finish before the next step
        return row
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", action="store_true", help="build missing native variants")
    ap.add_argument("--only", help="comma-separated variant names")
    ap.add_argument("--conns", default="1000,10000", help="idle client counts ('' = none)")
    ap.add_argument("--hold", type=int, default=3, help="seconds each client count is held")
    ap.add_argument("--bench", help="tern-bench binary (default: newest build*/tests/bench)")
    ap.add_argument("--env", action="append", default=[],
                    help="VAR=VALUE for the broker, e.g. MALLOC_ARENA_MAX=1")
    ap.add_argument("--dir", action="append", default=[],
                    help="VARIANT=BUILD_DIR: take that variant from another build directory")
    ap.add_argument("--max-stripped-kib", type=int,
                    help="exit 1 if a reported stripped binary is larger (e.g. 2048)")
    ap.add_argument("--max-total", type=float, default=1800, help="seconds for the whole run")
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: (stop_all(), sys.exit(143)))
    deadline = time.monotonic() + args.max_total
    nofile = raise_nofile()
    conns = [int(x) for x in args.conns.split(",") if x.strip()]
    # The broker's default max_connections is 10,000; tern-bench and tern need a descriptor
    # each per client.
    conns = [n for n in conns if n + 64 <= nofile] or []
    bench = find_bench(args.bench) if conns else None
    env_extra = dict(kv.split("=", 1) for kv in args.env)
    wanted = set(args.only.split(",")) if args.only else None

    dirs = dict(kv.split("=", 1) for kv in args.dir)
    results = []
    try:
        for name, bdir, options, strip_tool in VARIANTS:
            if wanted and name not in wanted:
                continue
            if name in dirs:
                bdir, options = dirs[name], None  # given, never built here
            path = os.path.join(ROOT, bdir)
            tern = os.path.join(path, "broker", "app", "tern")
            if not os.path.exists(tern) and args.build and options is not None:
                build(bdir, options, deadline)
            if not os.path.exists(tern):
                continue
            row = {"variant": name, "dir": bdir,
                   "build_type": cache_value(path, "CMAKE_BUILD_TYPE"),
                   "tls": cache_value(path, "TERN_TLS"),
                   "size": os.path.getsize(tern),
                   "stripped": stripped_size(tern, strip_tool),
                   "needed": needed_libs(tern)}
            if strip_tool is None:
                row["features"] = check_features(tern, path)
            if strip_tool is None and time.monotonic() < deadline:
                row.update(measure(tern, bench, conns, args.hold, env_extra))
            results.append(row)
    finally:
        stop_all()

    print_table(results, conns, bench, env_extra)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    too_big = [r["variant"] for r in results if args.max_stripped_kib and r["stripped"] and
               r["stripped"] > args.max_stripped_kib * 1024]
    if too_big:
        print("error: stripped binary over %d KiB: %s" % (args.max_stripped_kib,
                                                          ", ".join(too_big)))
        return 1
    broken = [r["variant"] for r in results
              if any(not v.startswith(("on", "refused")) for v in r.get("features", {}).values())]
    if broken:
        print("error: feature switches misbehave in: %s" % ", ".join(broken))
        return 1
    return 0 if results else 1


def print_table(results, conns, bench, env_extra):
    kib = lambda b: "%.0f KiB" % (b / 1024.0) if b is not None else "-"
    head = ["variant", "type", "tls", "stripped", "libs", "threads", "rss", "pss", "private",
            "anon"]
    head += ["rss@%d" % n for n in conns] + ["B/client@%d" % n for n in conns]
    rows = []
    for r in results:
        idle = r.get("idle", {})
        line = [r["variant"], r["build_type"] or "?", r["tls"] or "?", kib(r["stripped"]),
                str(len(r["needed"])), str(idle.get("Threads", "-"))]
        line += [("%d kB" % idle[k]) if k in idle else "-"
                 for k in ("VmRSS", "Pss", "Private", "RssAnon")]
        for n in conns:
            c = r.get("clients", {}).get(n)
            line.append("%d kB" % c["peak_rss_kb"] if c else "-")
        for n in conns:
            c = r.get("clients", {}).get(n)
            if c and c["connected"]:
                line.append("%.0f" % ((c["peak_rss_kb"] - idle["VmRSS"]) * 1024.0 /
                                      c["connected"]))
            else:
                line.append("-")
        rows.append(line)
    widths = [max(len(x[i]) for x in [head] + rows) for i in range(len(head))]
    for line in [head] + rows:
        print("  ".join(x.ljust(w) for x, w in zip(line, widths)).rstrip())
    print()
    for r in results:
        print("%-9s needs: %s" % (r["variant"], " ".join(r["needed"])))
    for r in results:
        if "features" in r:
            print("%-9s %s" % (r["variant"], ", ".join(
                "%s %s" % (k[len("TERN_WITH_"):].lower(), v) for k, v in r["features"].items())))
    print("memory: native only (under qemu-user it would be qemu's); default config, "
          "io_threads 0 = %d loop(s) here%s; clients via %s" %
          (min(max(os.cpu_count() or 1, 1), 4),
           (", env " + " ".join("%s=%s" % kv for kv in env_extra.items())) if env_extra else "",
           bench or "no tern-bench found"))
    for r in results:
        for n, c in r.get("clients", {}).items():
            if c["connected"] != n:
                print("warning: %s: %s of %d clients connected" % (r["variant"], c["connected"],
                                                                   n))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        stop_all()
        sys.exit(130)

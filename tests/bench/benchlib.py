"""Helpers shared by compare.py and smoke.py: start Tern or Mosquitto on a free loopback
port with a generated configuration, read their CPU time and RSS from /proc, run tern-bench,
and stop every process started, whatever happens (Python 3 standard library only)."""

import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time

_children = []  # every Popen we started, stopped by stop_all()


def raise_nofile():
    """Raise the soft open-files limit to the hard one (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("broker exited with %s before listening" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("broker did not listen on port %d within %.0fs" % (port, timeout))


def _spawn(argv, log_path, append=False):
    log = open(log_path, "ab" if append else "wb")
    # Own process group, so a Ctrl-C reaches us first and we stop the children in order.
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    _children.append(proc)
    return proc


def stop(proc, grace=5.0):
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)  # one we paused (SIGSTOP) would not see SIGTERM
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc in _children:
        _children.remove(proc)


def stop_all():
    for p in list(_children):
        stop(p, grace=2.0)


class Broker:
    """One running broker process: name, pid, port, and /proc readings."""

    def __init__(self, name, proc, port, workdir):
        self.name, self.proc, self.port, self.workdir = name, proc, port, workdir

    def cpu_seconds(self):
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
        ticks = int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def rss_bytes(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def io_counters(self):
        """/proc/<pid>/io of the broker (all its threads): wchar counts every write()
        (sockets included), write_bytes what it caused to be written to a block device,
        cancelled_write_bytes dirty page-cache data dropped before it reached the disk
        (a file truncated or deleted in time)."""
        out = {}
        with open("/proc/%d/io" % self.proc.pid) as f:
            for line in f:
                k, v = line.split(":", 1)
                out[k.strip()] = int(v)
        return out

    def thread_stats(self, by_rank=False):
        """{thread name: [CPU seconds, context switches (voluntary + involuntary)]} over the
        broker's threads (/proc/<pid>/task/*/stat and status); threads with the same name
        are summed, or with by_rank told apart as name#1, name#2, ... in thread id order
        (= creation order, barring id wrap-around)."""
        out = {}
        tick = os.sysconf("SC_CLK_TCK")
        base = "/proc/%d/task" % self.proc.pid
        try:
            tids = os.listdir(base)
        except OSError:
            return out
        seen = {}
        for tid in sorted(tids, key=int):
            try:
                with open("%s/%s/stat" % (base, tid)) as f:
                    raw = f.read()
                with open("%s/%s/status" % (base, tid)) as f:
                    status = f.read()
            except OSError:
                continue  # the thread ended
            name = raw[raw.index("(") + 1:raw.rindex(")")]
            if by_rank:
                seen[name] = seen.get(name, 0) + 1
                name = "%s#%d" % (name, seen[name])
            fields = raw.rsplit(")", 1)[1].split()
            switches = sum(int(line.split()[1]) for line in status.splitlines()
                           if line.split(":")[0] in ("voluntary_ctxt_switches",
                                                     "nonvoluntary_ctxt_switches"))
            acc = out.setdefault(name, [0.0, 0])
            acc[0] += (int(fields[11]) + int(fields[12])) / tick
            acc[1] += switches
        return out

    def pause(self):
        """SIGSTOP: the whole process holds still (its timers fire late, on SIGCONT)."""
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self):
        stop(self.proc)

    def kill(self):
        """SIGKILL, no shutdown work (the crash the durability contract is about)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc in _children:
            _children.remove(self.proc)


def start_tern(tern, io_threads=1, cpu=None, workdir=None, extra_yaml="", extra_args=(),
               port=None, log_level="warn"):
    """extra_yaml: more top-level YAML sections (e.g. a storage: block); extra_args: more
    command-line arguments (e.g. --data-dir DIR). port: reuse one (a restart)."""
    workdir = workdir or tempfile.mkdtemp(prefix="tern-bench-")
    port = port or free_port()
    cfg = os.path.join(workdir, "tern.yaml")
    with open(cfg, "w") as f:
        f.write(
            "listeners:\n"
            "  - name: mqtt\n"
            "    bind: \"127.0.0.1:%d\"\n"
            "limits:\n"
            "  max_connections: 20000\n"
            "sessions:\n"
            "  max_queued_messages: 1000000\n"
            "  max_queued_bytes: 1GiB\n"
            "log:\n"
            "  level: %s\n"
            "io_threads: %d\n" % (port, log_level, io_threads) + extra_yaml)
    argv = [tern, "-c", cfg, "--bind", "127.0.0.1", "--port", str(port)] + list(extra_args)
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    proc = _spawn(argv, os.path.join(workdir, "tern.log"), append=True)
    wait_port(port, proc)
    return Broker("tern", proc, port, workdir)


def start_mosquitto(mosquitto="mosquitto", cpu=None, workdir=None, persistence_dir=None,
                    port=None, extra_conf=""):
    """persistence_dir: persistence true with its database there (Mosquitto snapshots it
    every autosave_interval, 30 min by default, and at shutdown; nothing in between).
    port: reuse one (a restart: a bridge's remote address is fixed). extra_conf: more
    mosquitto.conf lines."""
    workdir = workdir or tempfile.mkdtemp(prefix="tern-bench-")
    port = port or free_port()
    conf = os.path.join(workdir, "mosquitto.conf")
    persist = ("persistence true\npersistence_location %s/\n" % persistence_dir
               if persistence_dir else "persistence false\n")
    with open(conf, "w") as f:
        f.write(
            "listener %d 127.0.0.1\n"
            "allow_anonymous true\n" % port + persist +
            "set_tcp_nodelay true\n"
            "max_queued_messages 1000000\n"
            "connection_messages false\n"
            "log_dest stderr\n"
            "log_type error\n" + extra_conf)
    argv = [mosquitto, "-c", conf]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    proc = _spawn(argv, os.path.join(workdir, "mosquitto.log"), append=True)
    wait_port(port, proc)
    return Broker("mosquitto", proc, port, workdir)


def run_bench(bench, port, args, cpu=None, timeout=120):
    """Runs tern-bench --json against 127.0.0.1:port; returns (exit code, parsed JSON)."""
    argv = [bench] + list(args) + ["--host", "127.0.0.1", "--port", str(port), "--json"]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    _children.append(proc)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    except BaseException:
        # Ctrl-C or SIGTERM while waiting: the generator goes first, then the broker.
        stop(proc, grace=1.0)
        raise
    _children.remove(proc)
    try:
        result = json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        result = {"error": "no JSON from tern-bench: " + err.decode(errors="replace")[-300:],
                  "clean": False}
    return proc.returncode, result

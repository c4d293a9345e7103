#!/usr/bin/env python3
"""Small helpers for bench/run.sh (standard library only).

Subcommands:
  port-free PORT                 exit 0 if nothing listens on 127.0.0.1:PORT
  wait PORT PATH TIMEOUT [PID]   wait until GET PATH on 127.0.0.1:PORT answers 200 (give up
                                 early if PID exits)
  parse-wrk FILE                 print "rps p50_ms p99_ms requests non2xx socket_errors"
  rss PID                        print the RSS in KiB of PID plus its descendants
  cpu PID                        print the CPU seconds (user + system) of PID plus descendants
  snapshot CPUS PID...           print the CPU seconds each CPU of the comma-separated list
                                 CPUS spent running tasks (or stolen by the hypervisor) since
                                 boot, then the CPU seconds of each PID (with descendants)
  hold PORT COUNT PID [TIMEOUT]  open COUNT keep-alive connections to 127.0.0.1:PORT, send
                                 one request on each, read the answers, then print the RSS of
                                 PID (and descendants) in KiB while they are open, and close
"""

import os
import re
import resource
import socket
import sys
import time


def fail(msg):
    print(f"tools.py: {msg}", file=sys.stderr)
    sys.exit(1)


# ---- HTTP/1.1 on a raw socket -------------------------------------------------------------

REQUEST = "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"


def read_response(sock, deadline):
    """Reads one HTTP/1.1 response with a Content-Length body; returns its status code."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed before the response headers")
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise ConnectionError(f"bad status line: {lines[0]!r}")
    status = int(parts[1])
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
        elif name.strip().lower() == "transfer-encoding" and "chunked" in value.lower():
            # Read until the terminating chunk; good enough for tiny bodies.
            while not body.endswith(b"0\r\n\r\n"):
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed inside a chunked body")
                body += chunk
            return status
    if length is None:
        raise ConnectionError("response without Content-Length")
    while len(body) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("connection closed inside the body")
        body += chunk
    return status


def get_status(port, path, timeout):
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(REQUEST.format(path=path).encode())
        return read_response(sock, deadline)


# ---- subcommands --------------------------------------------------------------------------


def cmd_port_free(port):
    try:
        with socket.create_connection(("127.0.0.1", int(port)), timeout=0.5):
            return 1
    except OSError:
        return 0


def alive(pid):
    """True if PID runs (an exited child that was not reaped yet is a zombie: not alive)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def cmd_wait(port, path, timeout, pid=None):
    deadline = time.monotonic() + float(timeout)
    last = "no attempt"
    while time.monotonic() < deadline:
        if pid is not None and not alive(pid):
            print(f"process {pid} exited before 127.0.0.1:{port} answered", file=sys.stderr)
            return 1
        try:
            status = get_status(int(port), path, 1.0)
            if status == 200:
                return 0
            last = f"status {status}"
        except (OSError, ValueError) as exc:
            last = str(exc) or type(exc).__name__
        time.sleep(0.1)
    print(f"no 200 from 127.0.0.1:{port}{path} within {timeout}s (last: {last})", file=sys.stderr)
    return 1


UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if not m:
        fail(f"cannot read latency {text!r}")
    return float(m.group(1)) * UNIT_MS[m.group(2)]


def cmd_parse_wrk(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, re.M)
    p50 = re.search(r"^\s+50%\s+(\S+)", text, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", text, re.M)
    total = re.search(r"^\s+(\d+) requests in", text, re.M)
    if not (rps and p50 and p99 and total):
        fail(f"{path}: not a complete `wrk --latency` output")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    sock = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    socket_errors = sum(int(g) for g in sock.groups()) if sock else 0
    print(
        f"{float(rps.group(1)):.0f} {to_ms(p50.group(1)):.3f} {to_ms(p99.group(1)):.3f} "
        f"{total.group(1)} {int(non2xx.group(1)) if non2xx else 0} {socket_errors}"
    )
    return 0


def descendants(pid):
    """pid and all its descendants, from /proc/PID/task/*/children."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children", encoding="ascii") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def rss_kib(pid):
    total = 0
    for p in descendants(int(pid)):
        try:
            with open(f"/proc/{p}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    if total == 0:
        fail(f"no RSS for pid {pid} (not running?)")
    return total


def cpu_seconds(pid):
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(int(pid)):
        try:
            with open(f"/proc/{p}/stat", encoding="ascii") as f:
                # The command name may hold spaces; the fields after it are fixed.
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total / ticks


def cmd_cpu(pid):
    print(f"{cpu_seconds(pid):.2f}")
    return 0


def busy_seconds():
    """Seconds each CPU spent busy since boot, as a list indexed by CPU number."""
    busy = {}
    with open("/proc/stat", encoding="ascii") as f:
        for line in f:
            fields = line.split()
            if not (fields[0].startswith("cpu") and fields[0][3:].isdigit()):
                continue
            # Fields: user nice system idle iowait irq softirq steal. Counted: user, nice,
            # system and steal. Interrupt time is left out: it is mostly the loopback traffic
            # of the benchmark itself, which the kernel charges to no process.
            values = [int(v) for v in fields[1:9]]
            busy[int(fields[0][3:])] = values[0] + values[1] + values[2] + values[7]
    ticks = os.sysconf("SC_CLK_TCK")
    return [busy[cpu] / ticks for cpu in sorted(busy)]


def cmd_snapshot(cpus, *pids):
    per_cpu = busy_seconds()
    values = [per_cpu[int(c)] for c in cpus.split(",")] + [cpu_seconds(p) for p in pids]
    print(" ".join(f"{v:.2f}" for v in values))
    return 0


def cmd_rss(pid):
    print(rss_kib(pid))
    return 0


def cmd_hold(port, count, pid, timeout="60"):
    port, count = int(port), int(count)
    deadline = time.monotonic() + float(timeout)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = count + 100
    if soft < want:
        if hard != resource.RLIM_INFINITY and hard < want:
            fail(f"open-file limit {hard} is below the {want} needed for {count} connections")
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    socks = []
    try:
        for i in range(count):
            if time.monotonic() > deadline:
                fail(f"timed out after opening {i} of {count} connections")
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            socks.append(sock)
            sock.sendall(REQUEST.format(path="/bench").encode())
            status = read_response(sock, min(deadline, time.monotonic() + 5))
            if status != 200:
                fail(f"connection {i}: status {status}")
        # Let the proxy settle, then check every connection is still open (none was reset).
        time.sleep(1.0)
        rss = rss_kib(pid)
        closed = 0
        for sock in socks:
            sock.setblocking(False)
            try:
                if sock.recv(1) == b"":
                    closed += 1
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        print(f"{rss} {closed}")
        return 0
    except OSError as exc:
        fail(f"after {len(socks)} connections: {exc}")
    finally:
        for sock in socks:
            sock.close()
    return 1


COMMANDS = {
    "port-free": cmd_port_free,
    "wait": cmd_wait,
    "parse-wrk": cmd_parse_wrk,
    "rss": cmd_rss,
    "cpu": cmd_cpu,
    "snapshot": cmd_snapshot,
    "hold": cmd_hold,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        fail(f"usage: tools.py {{{'|'.join(COMMANDS)}}} ARGS...")
    try:
        sys.exit(COMMANDS[sys.argv[1]](*sys.argv[2:]))
    except TypeError as exc:
        fail(f"{sys.argv[1]}: {exc}")

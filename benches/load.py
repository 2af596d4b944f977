#!/usr/bin/env python3
"""Load benchmark: hush beside dnsmasq and unbound, in the same run, with dnsperf.

Usage: python3 benches/load.py [--seconds 15] [--rules-scale] [--skip-throughput]

Starts a loopback upstream (dnsmasq answering every name), then hush (release build, query log
on), dnsmasq and unbound, each configured to forward to that upstream and to block the same
names with NXDOMAIN. Drives each with dnsperf for three query sets (blocked names, repeated
allowed names answered from cache, and a 30% blocked / 70% allowed mix over ~10k popular names)
and reports QPS, mean latency, lost queries and server CPU time per query, then p50/p99 latency
at half of hush's maximum rate. With --rules-scale it also measures the time from start to the
first correct block answer and the resident memory for 100k and 1M rules.

Installs dnsperf, dnsmasq and unbound from Debian when missing (needs root).
Only same-run ratios mean anything on a shared machine.
"""

import argparse
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus" / "top10k.txt"
UPSTREAM_PORT, HUSH_PORT, DNSMASQ_PORT, UNBOUND_PORT, HUSH_API_PORT = 5399, 5301, 5302, 5303, 5381
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ensure_tools():
    missing = [pkg for tool, pkg in [("dnsperf", "dnsperf"), ("dnsmasq", "dnsmasq-base"), ("unbound", "unbound")]
               if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists()]
    if missing:
        print(f"installing {' '.join(missing)} ...", flush=True)
        subprocess.run(["apt-get", "install", "-y", "-qq", *missing], check=True, stdout=subprocess.DEVNULL)


def names():
    if CORPUS.exists():
        return [line.strip() for line in CORPUS.read_text().splitlines() if line.strip()]
    print(f"note: {CORPUS} absent; using synthetic names")
    return [f"host{i}.site{i % 500}.example" for i in range(10_000)]


def query(port, name, timeout=0.5):
    """One A query over UDP; returns the rcode, or None without an answer."""
    ident = 0x4242
    packet = struct.pack(">HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        packet += bytes([len(label)]) + label.encode()
    packet += b"\x00" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(packet, ("127.0.0.1", port))
            reply = sock.recv(4096)
        except OSError:
            return None
    return reply[3] & 0x0F


def wait_for(port, name, rcode, deadline=60.0):
    started = time.monotonic()
    while time.monotonic() - started < deadline:
        # A short probe timeout keeps the start-up measurement to ~50 ms resolution.
        if query(port, name, timeout=0.05) == rcode:
            return time.monotonic() - started
        time.sleep(0.01)
    raise RuntimeError(f"port {port} never answered {name} with rcode {rcode}")


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def resident_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Servers:
    def __init__(self, work, blocked, hush_binary):
        self.work, self.blocked, self.hush_binary, self.procs = work, blocked, hush_binary, {}

    def start_upstream(self):
        self.procs["upstream"] = subprocess.Popen(
            ["dnsmasq", "--no-daemon", f"--port={UPSTREAM_PORT}", "--listen-address=127.0.0.1",
             "--bind-interfaces", "--no-resolv", "--no-hosts", "--address=/#/192.0.2.1", "--cache-size=0",
             # dnsmasq gives its own answers TTL 0 by default: nothing would be cacheable.
             "--local-ttl=300"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(UPSTREAM_PORT, "probe.example", 0)

    def start_hush(self, blocked_file=None, port=HUSH_PORT, api=HUSH_API_PORT, tag="hush"):
        work = self.work / tag
        work.mkdir(exist_ok=True)
        (work / "hush.toml").write_text(
            f'[dns]\nlisten = ["127.0.0.1:{port}"]\nupstreams = ["udp://127.0.0.1:{UPSTREAM_PORT}"]\n'
            f'cache_size = 20000\nallowed_clients = ["127.0.0.0/8"]\n'
            f'[blocking]\nanswer = "nxdomain"\nlists = ["{blocked_file or self.work / "blocked.txt"}"]\n'
            f'doh_canary = false\n[querylog]\ndatabase = "{work / "hush.db"}"\n'
            f'[api]\nlisten = "127.0.0.1:{api}"\n')
        started = time.monotonic()
        proc = subprocess.Popen([str(self.hush_binary), "run", "--config", str(work / "hush.toml")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env={**os.environ, "RUST_LOG": "error"})
        self.procs[tag] = proc
        return proc, started

    def start_dnsmasq(self, blocked_names=None, port=DNSMASQ_PORT, tag="dnsmasq"):
        conf = self.work / f"{tag}.conf"
        conf.write_text("".join(f"address=/{name}/\n" for name in (blocked_names or self.blocked)))
        started = time.monotonic()
        proc = subprocess.Popen(
            ["dnsmasq", "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
             "--no-resolv", "--no-hosts", f"--server=127.0.0.1#{UPSTREAM_PORT}", "--cache-size=10000",
             f"--conf-file={conf}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs[tag] = proc
        return proc, started

    def start_unbound(self, blocked_names=None, port=UNBOUND_PORT, tag="unbound"):
        conf = self.work / f"{tag}.conf"
        zones = "".join(f'    local-zone: "{name}." always_nxdomain\n' for name in (blocked_names or self.blocked))
        conf.write_text(
            "server:\n    interface: 127.0.0.1\n    port: %d\n    num-threads: 2\n    so-reuseport: yes\n"
            "    access-control: 127.0.0.0/8 allow\n    do-not-query-localhost: no\n    chroot: \"\"\n"
            "    username: \"\"\n    pidfile: \"\"\n    use-syslog: no\n    logfile: \"\"\n    verbosity: 0\n"
            "    msg-cache-size: 32m\n    rrset-cache-size: 64m\n%s"
            "forward-zone:\n    name: \".\"\n    forward-addr: 127.0.0.1@%d\n" % (port, zones, UPSTREAM_PORT))
        started = time.monotonic()
        proc = subprocess.Popen(["unbound", "-d", "-c", str(conf)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        self.procs[tag] = proc
        return proc, started

    def stop(self, tag):
        proc = self.procs.pop(tag, None)
        if proc:
            proc.terminate()
            proc.wait(timeout=30)

    def stop_all(self):
        for tag in list(self.procs):
            self.stop(tag)


def dnsperf(port, query_file, seconds, rate=None, verbose=False):
    # The shared harness's client load (../shared/bench/run.sh), so the two compare.
    args = ["dnsperf", "-s", "127.0.0.1", "-p", str(port), "-d", str(query_file), "-l", str(seconds),
            "-c", "4", "-T", "1", "-q", "100"]
    if rate:
        args += ["-Q", str(int(rate))]
    if verbose:
        args.append("-v")
    out = subprocess.run(args, capture_output=True, text=True).stdout
    stats = {
        "qps": float(re.search(r"Queries per second:\s+([\d.]+)", out).group(1)),
        "completed": int(re.search(r"Queries completed:\s+(\d+)", out).group(1)),
        "lost": int(re.search(r"Queries lost:\s+(\d+)", out).group(1)),
        "mean_ms": float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)) * 1e3,
    }
    if verbose:
        latencies = sorted(float(m) for m in re.findall(r"^> \S+ \S+ \S+ ([\d.]+)$", out, re.M))
        if latencies:
            stats["p50_ms"] = latencies[len(latencies) // 2] * 1e3
            stats["p99_ms"] = latencies[int(len(latencies) * 0.99)] * 1e3
    return stats


def health(api):
    with urllib.request.urlopen(f"http://127.0.0.1:{api}/api/health", timeout=5) as response:
        return json.load(response)


def under_blocked(name, blocked):
    """True when the name or a parent of it is blocked (a blocked name blocks its subdomains)."""
    labels = name.split(".")
    return any(".".join(labels[i:]) in blocked for i in range(len(labels)))


def throughput(servers, work, all_names, blocked, seconds):
    blocked_set = set(blocked)
    # Allowed means answered: a name under a blocked parent is blocked too (before 2026-12-02
    # such names counted as allowed, which pulled the cache-hit and mix sets toward blocked).
    allowed = [name for name in all_names if not under_blocked(name, blocked_set)]
    mix = [name for name in all_names if name in blocked_set or not under_blocked(name, blocked_set)]
    sets = {
        "blocked": [f"{name} A" for name in blocked[:3000]],
        "cache hits": [f"{name} A" for name in allowed[:100]],
        f"mix {round(100 * len(blocked) / len(mix))}% blocked": [f"{name} A" for name in mix],
    }
    files = {}
    for label, lines in sets.items():
        # A name of its own: "blocked.txt" is the blocklist hush watches.
        files[label] = work / f"queries-{label.replace(' ', '_').replace('/', '-')}.txt"
        files[label].write_text("\n".join(lines) + "\n")
    results = {}
    for tag, port in [("hush", HUSH_PORT), ("dnsmasq", DNSMASQ_PORT), ("unbound", UNBOUND_PORT)]:
        pid = servers.procs[tag].pid
        for label, query_file in files.items():
            dnsperf(port, query_file, 2)  # warm-up: caches filled, sockets hot
            before = cpu_seconds(pid)
            dropped_before = health(HUSH_API_PORT)["querylog"]["dropped"] if tag == "hush" else 0
            stats = dnsperf(port, query_file, seconds)
            stats["cpu_us"] = (cpu_seconds(pid) - before) * 1e6 / max(stats["completed"], 1)
            if tag == "hush":
                stats["log_dropped"] = health(HUSH_API_PORT)["querylog"]["dropped"] - dropped_before
            results[(tag, label)] = stats
    for label, query_file in files.items():
        half = results[("hush", label)]["qps"] / 2
        for tag, port in [("hush", HUSH_PORT), ("dnsmasq", DNSMASQ_PORT), ("unbound", UNBOUND_PORT)]:
            timed = dnsperf(port, query_file, min(seconds, 10), rate=half, verbose=True)
            results[(tag, label)].update({k: timed[k] for k in ("p50_ms", "p99_ms") if k in timed})
            results[(tag, label)]["latency_rate"] = half
    return results, list(files)


def print_throughput(results, labels):
    print("\n| query set | server | QPS | vs hush | mean ms | p50 ms* | p99 ms* | lost | CPU µs/query | log rows dropped |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label in labels:
        hush = results[("hush", label)]
        for tag in ("hush", "dnsmasq", "unbound"):
            r = results[(tag, label)]
            ratio = "1" if tag == "hush" else f"hush/{tag} = {hush['qps'] / r['qps']:.2f}"
            print(f"| {label} | {tag} | {r['qps']:,.0f} | {ratio} | {r['mean_ms']:.3f} | {r.get('p50_ms', 0):.3f} | "
                  f"{r.get('p99_ms', 0):.3f} | {r['lost']} | {r['cpu_us']:.1f} | {r.get('log_dropped', '-')} |")
    print("\n* p50/p99 measured at half of hush's maximum QPS for that set, same rate for every server.")
    for label in labels:
        h, d = results[("hush", label)], results[("dnsmasq", label)]
        print(f"{label}: CPU per query hush/dnsmasq = {h['cpu_us'] / d['cpu_us']:.2f}")


def rules_scale(servers, work):
    print("\n| rules | server | start to first block answer (s) | resident MiB |")
    print("|---|---|---|---|")
    for count in (100_000, 1_000_000):
        blocked = [f"t{i}.tracker{i % 997}.example{i % 13}.com" for i in range(count)]
        probe = blocked[count // 2]
        list_file = work / f"rules-{count}.txt"
        list_file.write_text("\n".join(blocked) + "\n")
        for tag, start, port in [
            ("hush", lambda: servers.start_hush(list_file, 5311, 5391, "scale-hush"), 5311),
            ("dnsmasq", lambda: servers.start_dnsmasq(blocked, 5312, "scale-dnsmasq"), 5312),
            ("unbound", lambda: servers.start_unbound(blocked, 5313, "scale-unbound"), 5313),
        ]:
            proc, started = start()
            try:
                wait_for(port, probe, 3, deadline=120)
                took = time.monotonic() - started
                print(f"| {count:,} | {tag} | {took:.2f} | {resident_mib(proc.pid):.1f} |")
            except RuntimeError as err:
                print(f"| {count:,} | {tag} | failed: {err} | - |")
            servers.stop(f"scale-{tag}")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--rules-scale", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true", help="only the --rules-scale part")
    args = parser.parse_args()
    ensure_tools()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    hush_binary = ROOT / "target" / "release" / "hush"
    all_names = names()
    blocked = [name for i, name in enumerate(all_names) if i % 10 < 3]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "blocked.txt").write_text("\n".join(blocked) + "\n")
        servers = Servers(work, blocked, hush_binary)
        try:
            servers.start_upstream()
            servers.start_hush()
            servers.start_dnsmasq()
            servers.start_unbound()
            for port in (HUSH_PORT, DNSMASQ_PORT, UNBOUND_PORT):
                wait_for(port, blocked[0], 3)
            if not args.skip_throughput:
                results, labels = throughput(servers, work, all_names, blocked, args.seconds)
                print_throughput(results, labels)
            if args.rules_scale:
                rules_scale(servers, work)
        finally:
            servers.stop_all()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Who made DNS wait: reads `perf sched timehist` output and, for every wake-to-run delay of
hush's DNS threads and of dnsperf, finds which threads held that CPU meanwhile.

    perf sched record -o sched.data -- sleep 6 &   # during a dnsperf pass at a fixed rate
    perf sched timehist -i sched.data > timehist.txt
    python3 benches/sched_waits.py timehist.txt [WRITER_TID,...]

Prints, per waiting kind (hush-dns, dnsperf), the count and p99 / p99.9 / max of the delays,
and for delays of at least 0.25 ms the milliseconds each kind of thread held the CPU during
them: hush-writer (`hush-querylog`, or the thread ids given, for builds before the writer's
thread had a name), hush-sqlite (`hush-log-db`, `sqlx-sqlite-*`), hush-dns, dnsperf, other,
and "host gap" (the CPU shown idle while a task waited on it: on a virtual machine, the
hypervisor not running the vCPU). Used in benches/README.md, round seven.
"""
import collections
import re
import sys

LINE = re.compile(r"^\s*([\d.]+)\s+\[(\d+)\]\s+(.+?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s*$")
LONG_WAIT_S = 0.00025


def kind(task, writer_tids):
    match = re.search(r"\[(\d+)(?:/\d+)?\]", task)
    tid = match.group(1) if match else ""
    if task.startswith("<idle>"):
        return "host gap"
    if tid in writer_tids or task.startswith("hush-querylog"):
        return "hush-writer"
    if task.startswith(("sqlx", "hush-log-db")):
        return "hush-sqlite"
    if task.startswith(("tokio", "hush")):
        return "hush-dns"
    if task.startswith("dnsperf"):
        return "dnsperf"
    return "other"


def main():
    path = sys.argv[1]
    writer_tids = set(sys.argv[2].split(",")) if len(sys.argv) > 2 else set()
    # (switched out at, cpu, task, scheduling delay, run time), seconds
    runs = []
    for line in open(path, errors="replace"):
        match = LINE.match(line)
        if match:
            at, cpu, task, _wait, delay, run = match.groups()
            runs.append((float(at), int(cpu), task, float(delay) / 1000, float(run) / 1000))
    by_cpu = collections.defaultdict(list)
    for run in runs:
        by_cpu[run[1]].append(run)
    delays = collections.defaultdict(list)
    held = collections.Counter()
    for at, cpu, task, delay, ran in runs:
        waiting = kind(task, writer_tids)
        if waiting not in ("hush-dns", "dnsperf"):
            continue
        delays[waiting].append(delay)
        if delay < LONG_WAIT_S:
            continue
        woke, started = at - ran - delay, at - ran
        for other_at, _, other, _, other_ran in by_cpu[cpu]:
            overlap = min(other_at, started) - max(other_at - other_ran, woke)
            if overlap > 0:
                held[kind(other, writer_tids)] += overlap * 1000
    for waiting, values in sorted(delays.items()):
        values.sort()
        n = len(values)
        long_waits = sum(1 for value in values if value >= LONG_WAIT_S)
        print(
            f"{waiting}: {n} runs, p99 {values[int(0.99 * n)] * 1000:.3f} ms, "
            f"p99.9 {values[int(0.999 * n)] * 1000:.3f} ms, max {values[-1] * 1000:.2f} ms, "
            f"{long_waits} waits >= 0.25 ms"
        )
    print("held the CPU during those waits (ms):",
          ", ".join(f"{name} {ms:.1f}" for name, ms in held.most_common()))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""CPU budget of one request from a `perf script` dump of a profile of handoff.

    RUSTFLAGS="-C force-frame-pointers=yes" cargo build --profile profiling -p handoff
    perf record -g -F 999 -p "$(pidof handoff)" -o perf.data -- sleep 8   # while wrk drives one scenario
    perf script -i perf.data > perf.txt
    bench/perf/budget.py perf.txt REQUESTS [HZ]    # REQUESTS: what wrk counted during those 8 s

On the request threads (tokio's) each sample goes to the first category that matches, from the
sampled function (the leaf) towards the thread's start: a malloc called by serde_json counts as
allocation, the rest of serde_json's work as JSON. The journal's writer thread
(`handoff-journal`) is split into its fsync, its WAL writes and the rest (SQLite's own work). With REQUESTS, each share is also given in microseconds of CPU per request.
"""
import collections
import sys


def stacks(path):
    """[(thread name, [frames, leaf first])] from `perf script` output."""
    out, head, frames = [], None, []
    for line in open(path, errors="replace"):
        line = line.rstrip()
        if not line:
            if head is not None:
                out.append((head, frames))
            head, frames = None, []
        elif line[0] not in " \t":
            head = line.split()[0]
        else:
            parts = line.strip().split(" ", 1)
            if len(parts) == 2:
                frames.append(parts[1].split("+0x")[0])
    if head is not None:
        out.append((head, frames))
    return out


def has(*words):
    return lambda frame: any(w in frame for w in words)


JOURNAL = [
    ("journal: fsync", has("fsync", "fdatasync")),
    ("journal: WAL writes (pwrite)", has("pwrite")),
    ("journal: SQLite statements (B-trees, VDBE)", lambda f: True),
]
WORKERS = [
    ("send the response (writev, loopback TCP)", has("writev")),
    ("read the request (recv)", has("recv", "readv")),
    ("wake-ups, scheduling, epoll, futex", has("epoll", "futex", "finish_task_switch", "try_to_wake_up", "schedule", "syscall", "park")),
    ("allocation (malloc, free)", has("malloc", "_int_free", "cfree", "realloc", "unlink_chunk")),
    ("memcpy (moving futures and buffers)", has("memmove", "memcpy")),
    ("JSON (serde_json)", has("serde_json")),
    ("crypto (SHA-256, HMAC, Ed25519, base64)", has("sha2", "hmac", "Key::sign", "ed25519", "curve25519", "base64")),
    ("handoff's services and domain", has("handoff_")),
    ("HTTP (hyper, httparse, http)", has("hyper", "httparse", "http::")),
    ("routing and middleware (axum, tower, tower-http)", has("axum", "tower")),
    ("tokio's runtime", has("tokio")),
]


def category(thread, frames):
    if thread.startswith("handoff-journal"):
        # The writer's few system calls, wherever they are in the stack; the rest is SQLite.
        return next(name for name, match in JOURNAL if any(match(f) for f in frames))
    if not thread.startswith("tokio"):
        return f"other threads ({thread})"
    for frame in frames:
        for name, match in WORKERS:
            if match(frame):
                return name
    return "other (kernel, libc)"


def main():
    samples = stacks(sys.argv[1])
    requests = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    hz = float(sys.argv[3]) if len(sys.argv) > 3 else 999.0
    counts = collections.Counter(category(t, f) for t, f in samples)
    total = len(samples)
    print(f"{total} samples ({total / hz:.1f} CPU seconds at {hz:.0f} Hz)")
    for name, n in counts.most_common():
        us = f"{n / hz / requests * 1e6:6.2f} us" if requests else ""
        print(f"{100 * n / total:6.2f} %  {us}  {name}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Turns bench/compare.sh's JSON lines into a markdown table: the median over runs of
each figure, per server, and tern's ratio to the best peer (above 1: tern is better by
that factor, whichever way the figure points).

  report.py RESULTS.json > RESULTS.md
"""
import json
import statistics
import sys

# (scenario name, label, how to read it from tern-bench's JSON, True if higher is better)
ROWS = [
    ("idle-tls", "idle, STARTTLS: server KB per session", lambda b: b["kb_per_session"], False),
    ("idle-tls", "idle, STARTTLS: server RSS with all sessions (MB)",
     lambda b: b["rss_kb"] / 1024, False),
    ("idle-plain", "idle, no TLS: server KB per session", lambda b: b["kb_per_session"], False),
    ("idle-plain", "idle, no TLS: server RSS with all sessions (MB)",
     lambda b: b["rss_kb"] / 1024, False),
    ("chat", "chat: delivered msgs/s", lambda b: b["result"]["msgs_per_s"], True),
    ("chat", "chat: latency p50 (ms)", lambda b: b["result"]["latency_us"]["p50"] / 1e3, False),
    ("chat", "chat: latency p99 (ms)", lambda b: b["result"]["latency_us"]["p99"] / 1e3, False),
    ("chat", "chat: latency p99.9 (ms)",
     lambda b: b["result"]["latency_us"]["p999"] / 1e3, False),
    ("chat", "chat: latency max (ms)", lambda b: b["result"]["latency_us"]["max"] / 1e3, False),
    ("chat", "chat: lost messages", lambda b: b["result"]["lost"], False),
    ("chat", "chat: server CPU (% of one core)", lambda b: b["result"]["server_cpu_pct"], False),
    ("chat", "chat: server CPU per message (µs)",
     lambda b: b["result"]["server_cpu_us_per_msg"], False),
    ("chat", "chat: tern-bench CPU (% of one core)",
     lambda b: b["result"]["bench_cpu_pct"], None),
    ("chat", "chat: other processes' CPU (% of one core)",
     lambda b: b["result"]["other_cpu_pct"], None),
    ("login", "login: logins/s", lambda b: b["logins_per_s"], True),
    ("login", "login: latency p50 (ms)", lambda b: b["login_us"]["p50"] / 1e3, False),
    ("login", "login: latency p99 (ms)", lambda b: b["login_us"]["p99"] / 1e3, False),
    ("login", "login: server CPU (% of one core)", lambda b: b["server_cpu_pct"], None),
    ("login", "login: tern-bench CPU (% of one core)", lambda b: b["bench_cpu_pct"], None),
    ("login", "login: other processes' CPU (% of one core)", lambda b: b["other_cpu_pct"], None),
    ("ramp", "ramp: highest rate held, p99 ≤ 100 ms, no loss (msgs/s)",
     lambda b: b["held_msgs_per_s"], True),
    ("ramp", "ramp: server CPU per message at that rate (µs)",
     lambda b: b["result"]["server_cpu_us_per_msg"], False),
    ("ramp", "ramp: tern-bench CPU at that rate (% of one core)",
     lambda b: b["result"]["bench_cpu_pct"], None),
]


def fmt(v):
    if v is None:
        return "–"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    recs = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    servers = []
    for r in recs:
        if r["server"] not in servers:
            servers.append(r["server"])
    runs = {}
    for r in recs:
        runs.setdefault((r["name"], r["server"]), []).append(r["bench"])
    meta = recs[0] if recs else {"date": "?", "commit": "?"}

    print(f"# tern-bench comparison, {meta['date']}\n")
    print(f"tern at commit `{meta['commit']}`; message archive: {meta.get('archive', '?')} "
          f"for every server that has one. Each figure is the median of the runs "
          f"(ramp: one run). Ratio: tern against the best peer, above 1 means tern is better "
          f"by that factor.\n")
    head = "| figure | " + " | ".join(servers) + " | tern vs best peer |"
    print(head)
    print("|" + "---|" * (len(servers) + 2))
    for name, label, get, higher in ROWS:
        vals = {}
        for s in servers:
            got = []
            for b in runs.get((name, s), []):
                try:
                    v = get(b)
                except (KeyError, TypeError, ZeroDivisionError):
                    continue
                if v is not None and v >= 0:
                    got.append(v)
            vals[s] = statistics.median(got) if got else None
        ratio = "–"
        peers = [vals[s] for s in servers if s != "tern" and vals[s] is not None]
        t = vals.get("tern")
        if higher is not None and peers and t is not None:
            best = max(peers) if higher else min(peers)
            if higher and best > 0:
                ratio = f"{t / best:.2f}×"
            elif not higher and t > 0:
                ratio = f"{best / t:.2f}×"
        print(f"| {label} | " + " | ".join(fmt(vals[s]) for s in servers) + f" | {ratio} |")

    print("\nSessions bound / failed / disconnected per run:\n")
    for (name, s), bs in sorted(runs.items()):
        cells = ", ".join(f"{b.get('bound', '?')}/{b.get('failed', '?')}/"
                          f"{b.get('disconnects', '?')}" for b in bs)
        print(f"- {s} {name}: {cells}")


if __name__ == "__main__":
    main()

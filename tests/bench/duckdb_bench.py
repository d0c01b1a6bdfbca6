#!/usr/bin/env python3
"""DuckDB side of the Tongban benchmark (driven by `tests/src/bin/bench.rs`).

Reads a JSON spec on stdin, runs every query over the same Parquet snapshot files the
gateway serves, timing each execution inside Python (execute + fetchall), and writes a
JSON report on stdout. Also probes SQLite commit latency under the audit log's settings
(WAL, synchronous FULL) and the cheaper synchronous NORMAL, for the latency breakdown.

Spec:
  {"tables": {"population": "/…/v000001/*.parquet", …},
   "queries": [{"name": "point", "sqls": ["…", …], "iterations": 300, "warmup": 30,
                "max_seconds": 60}, …],
   "concurrency": {"sqls": ["…"], "levels": [1, 4, 16], "seconds": 10},
   "sqlite_probe": {"path": "/tmp/…/probe.db", "inserts": 300, "entry_bytes": 700}}
"""

import json
import os
import sqlite3
import sys
import threading
import time


def run_queries(con, spec):
    out = {}
    for q in spec["queries"]:
        sqls = q["sqls"]
        for i in range(q.get("warmup", 0)):
            con.execute(sqls[i % len(sqls)]).fetchall()
        latencies, rows = [], []
        deadline = time.perf_counter() + q.get("max_seconds", 60)
        for i in range(q["iterations"]):
            sql = sqls[i % len(sqls)]
            t0 = time.perf_counter()
            result = con.execute(sql).fetchall()
            latencies.append((time.perf_counter() - t0) * 1000.0)
            rows.append(len(result))
            if time.perf_counter() > deadline:
                break
        out[q["name"]] = {"latencies_ms": latencies, "rows": rows}
    return out


def run_concurrency(con, spec):
    sqls = spec["sqls"]
    results = []
    for clients in spec["levels"]:
        stop = time.perf_counter() + spec["seconds"]
        per_thread = [[] for _ in range(clients)]
        errors = [0] * clients

        def worker(n):
            cur = con.cursor()
            i = n * 7919
            while time.perf_counter() < stop:
                sql = sqls[i % len(sqls)]
                i += 1
                t0 = time.perf_counter()
                try:
                    cur.execute(sql).fetchall()
                except Exception:  # counted, never fatal: the level reports it
                    errors[n] += 1
                    continue
                per_thread[n].append((time.perf_counter() - t0) * 1000.0)

        started = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        latencies = [x for lat in per_thread for x in lat]
        results.append({"clients": clients, "seconds": elapsed, "ok": len(latencies),
                        "errors": sum(errors), "latencies_ms": latencies})
    return results


def sqlite_probe(probe):
    """Commit latency of one audit-sized insert per transaction, as the gateway does it."""
    out = {}
    entry = "x" * probe.get("entry_bytes", 700)
    for sync in ("FULL", "NORMAL"):
        path = f"{probe['path']}.{sync.lower()}"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        con = sqlite3.connect(path, isolation_level=None)
        con.execute("PRAGMA journal_mode = WAL")
        con.execute(f"PRAGMA synchronous = {sync}")
        con.execute("CREATE TABLE audit (seq INTEGER PRIMARY KEY, request_id TEXT, entry TEXT)")
        latencies = []
        for i in range(probe.get("inserts", 300)):
            t0 = time.perf_counter()
            con.execute("INSERT INTO audit (request_id, entry) VALUES (?, ?)", (str(i), entry))
            latencies.append((time.perf_counter() - t0) * 1000.0)
        con.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        out[sync.lower()] = latencies
    return out


def main():
    spec = json.load(sys.stdin)
    import duckdb  # imported late so the SQLite probe works without it

    con = duckdb.connect(":memory:")
    # Keep Parquet footers in memory between queries, as DataFusion's metadata cache does.
    try:
        con.execute("SET parquet_metadata_cache = true")
    except duckdb.Error:
        pass
    for name, glob in spec["tables"].items():
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{glob}')")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    report = {"version": duckdb.__version__, "threads": threads,
              "queries": run_queries(con, spec)}
    if spec.get("concurrency"):
        report["concurrency"] = run_concurrency(con, spec["concurrency"])
    if spec.get("sqlite_probe"):
        report["sqlite"] = sqlite_probe(spec["sqlite_probe"])
    json.dump(report, sys.stdout)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Benchmark: erasure steps 3 and 4 (user_erasure/scrub), through S3 served by a moto server.

Writes a 10,000,000-row interactions CSV (users drawn from 1,000,000), a 5,000,000-user audience file and a
5,000,000-user batch segment output line to a versioned bucket of a moto server started in its own process, and
scrubs each of them of 10,000 erased users (present in the file, spread over it) in a fresh worker process, so that
its peak resident memory (VmHWM) is the scrub's own (with the interpreter, boto3 and the handler's imports, measured
apart as the baseline). Each file is scrubbed twice: of users it does not hold (read once, nothing written), then of
users it holds (read up to the first, read again and rewritten, the replaced version deleted). Prints the figures as
JSON.

    python benchmarks/erasure.py                                    # every case
    python benchmarks/erasure.py --rows 1000000 --users 500000      # smaller files

Target (issue 15): memory bounded whatever the file's size (the 10,000 IDs, a 1 MB read, two 8 MB parts).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from audience_export import BUCKET, QUERY, moto_server, peak_rss_mb, write_line  # noqa: E402

ROOT = HERE.parent
VERSIONED = "benchmark-versioned"
ERASED = 10_000
STEP = 100_000  # rows written at once


def write_interactions(path: str, rows: int, users: int) -> list[str]:
    """An interactions CSV of ``rows`` rows of ``users`` users; every ``users // ERASED``-th user is to be erased."""
    with open(path, "wb") as out:
        out.write(b"USER_ID,ITEM_ID,EVENT_TYPE,EVENT_VALUE,TIMESTAMP\n")
        for start in range(0, rows, STEP):
            out.write("".join(f"user-{i * 7919 % users:07d},item-{i % 25_000:05d},watch,0.{i % 97:02d},"
                              f"{1_700_000_000 + i}\n" for i in range(start, min(rows, start + STEP))).encode())
    return [f"user-{i:07d}" for i in range(0, users, users // ERASED)][:ERASED]


def write_audience(path: str, users: int) -> list[str]:
    """An audience file of ``users`` users; every ``users // ERASED``-th is to be erased."""
    with open(path, "wb") as out:
        out.write(b"User.UserId\n")
        for start in range(0, users, STEP):
            out.write("".join(f"user-{i:09d}\n" for i in range(start, min(users, start + STEP))).encode())
    return [f"user-{i:09d}" for i in range(0, users, users // ERASED)][:ERASED]


def write_output(path: str, users: int) -> list[str]:
    """A batch segment output of one line of ``users`` users (``audience_export``'s); every ``users // ERASED``-th
    is to be erased."""
    with open(path, "wb") as out:
        write_line(out, users, QUERY, 0)
    return [f"user-0-{i:09d}" for i in range(0, users, users // ERASED)][:ERASED]


def worker(key: str, request: str) -> None:
    """Runs in its own process: the scrub of ``key`` against the request at ``request``."""
    sys.path.insert(0, str(ROOT / "lambda_src"))
    from shared.aws import client
    from user_erasure.scrub.handler import handler

    client("s3").head_bucket(Bucket=VERSIONED)  # the client made, its first connection open: not the scrub's cost
    baseline = peak_rss_mb()
    started, started_cpu = time.perf_counter(), time.process_time()
    result = handler({"bucket": VERSIONED, "key": key, "erased": {"bucket": BUCKET, "key": request}}, None)
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(json.dumps({**result, "seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2),
                      "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}))


def scrub(env: dict, key: str, request: str) -> dict:
    run = subprocess.run([sys.executable, __file__, "--worker", key, request], env=env, capture_output=True,
                         text=True)
    if run.returncode:
        raise SystemExit(f"worker failed\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the interactions file")
    parser.add_argument("--users", type=int, default=5_000_000, help="users of the audience file and output line")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(*args.worker)

    import boto3

    cases = (("train/bench/interactions.csv", f"{args.rows:,}-row interactions CSV",
              lambda path: write_interactions(path, args.rows, 1_000_000)),
             ("audiences/bench/genre-affinity-action.csv", f"{args.users:,}-user audience file",
              lambda path: write_audience(path, args.users)),
             ("batch/bench/output/job_config.json.out", f"{args.users:,}-user batch segment output line",
              lambda path: write_output(path, args.users)))
    figures = []
    with moto_server() as (endpoint, env):
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket=VERSIONED)
        s3.put_bucket_versioning(Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"})
        for key, case, write in cases:
            with tempfile.TemporaryDirectory() as tmp:
                erased = write(f"{tmp}/file")
                size = Path(f"{tmp}/file").stat().st_size
                s3.upload_file(f"{tmp}/file", VERSIONED, key)
            for name, users in (("none held", [f"absent-{i:07d}" for i in range(ERASED)]), ("held", erased)):
                request = f"erasure/{name.replace(' ', '-')}.csv"
                s3.put_object(Bucket=BUCKET, Key=request, Body=("USER_ID\n" + "\n".join(users) + "\n").encode())
                result = scrub(env, key, request)
                figures.append({"case": f"{case} ({size / 1e6:.0f} MB), {ERASED:,} erased users, {name}", **{
                    k: result[k] for k in ("action", "rows", "users", "removed", "versionsDeleted", "seconds",
                                           "cpu_seconds", "peak_rss_mb", "baseline_rss_mb")}})
                print(json.dumps(figures[-1]), file=sys.stderr)
            after = s3.list_object_versions(Bucket=VERSIONED, Prefix=key)["Versions"]
            assert len(after) == 1 and figures[-1]["removed"] > 0, (after, figures[-1])
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()

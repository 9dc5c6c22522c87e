#!/usr/bin/env python3
"""Benchmark: who joined and who left an audience (export/deltas.py), through S3 served by a moto server.

Writes an audience's previous version (``--users`` users, published as its latest version) and its new file (the
same number of users, ``--churn`` percent of the previous ones gone and as many new ones), uploads them to a moto
server started in its own process, and runs ``audience_deltas`` in a fresh worker process, so that its peak
resident memory (VmHWM) is the delta's own (with the interpreter, boto3 and the handler's imports, measured apart).
Prints the figures as JSON.

    python benchmarks/audience_delta.py                       # 5,000,000 users against 5,000,000, 10% churn
    python benchmarks/audience_delta.py --users 1000000 --churn 50

Target (issue 14): memory bounded at 5,000,000 users (the 64-bit hash table, 8 bytes a slot, and a byte of flags a
slot: about 75 MB), time a few seconds, in the export function's 1,769 MB.
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

from audience_export import BUCKET, moto_server, peak_rss_mb  # noqa: E402

ROOT = HERE.parent
NAME = "bench-genre-affinity-action-0a1b2c3d"
PREVIOUS_JOB, JOB = "bench-segments-1", "bench-segments-2"


def write_audience(path: str, ids: range, offset: int = 0) -> int:
    """An audience file of the users numbered ``ids`` (shifted by ``offset``), written in pieces; its size."""
    with open(path, "wb") as out:
        out.write(b"User.UserId\n")
        step = 100_000
        for start in range(ids.start, ids.stop, step):
            out.write("".join(f"user-{i + offset:09d}\n" for i in range(start, min(ids.stop, start + step))).encode())
        return out.tell()


def worker(users: int) -> None:
    """Runs in its own process: the deltas of the new file against the previous version's."""
    sys.path.insert(0, str(ROOT / "lambda_src"))
    from batch_segment_postprocessor.export import deltas
    from shared.audiences import job_folder, s3

    s3().head_bucket(Bucket=BUCKET)  # the client made, its first connection open: not the delta's cost
    baseline = peak_rss_mb()
    started, started_cpu = time.perf_counter(), time.process_time()
    result = deltas.audience_deltas(JOB, NAME, f"{job_folder(JOB)}{NAME}.csv")
    seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
    print(json.dumps({"users": users, "previous_users": result["deltaFrom"]["userCount"],
                      "joined": result["joinedCount"], "left": result["leftCount"], "seconds": round(seconds, 2),
                      "cpu_seconds": round(cpu, 2),  # this process's, the upload thread's included
                      "users_per_second": round((users + 2 * result["deltaFrom"]["userCount"]) / seconds),
                      "peak_rss_mb": peak_rss_mb(), "baseline_rss_mb": baseline}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5_000_000, help="users in each version")
    parser.add_argument("--churn", type=float, default=10, help="percent of the previous users who left (as many join)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)

    import boto3

    gone = round(args.users * args.churn / 100)
    with moto_server() as (endpoint, env):
        s3 = boto3.client("s3", endpoint_url=endpoint)
        prefix, keys = env["AUDIENCE_PREFIX"], {}  # the export function's, as synthesized
        with tempfile.TemporaryDirectory() as tmp:
            for job, ids in ((PREVIOUS_JOB, range(args.users)), (JOB, range(gone, args.users + gone))):
                path = f"{tmp}/{job}.csv"
                size = write_audience(path, ids)
                keys[job] = f"{prefix}{job}/{NAME}.csv"
                s3.upload_file(path, BUCKET, keys[job])
        record = {"name": NAME, "version": 1, "jobName": PREVIOUS_JOB, "audienceKey": keys[PREVIOUS_JOB],
                  "controlKey": None, "userCount": args.users, "publishedAt": "2025-01-01T00:00:00+00:00",
                  "previous": None}
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}_audiences/{NAME}.json", Body=json.dumps(record).encode())
        run = subprocess.run([sys.executable, __file__, "--worker", str(args.users)], env=env, capture_output=True,
                             text=True)
        if run.returncode:
            raise SystemExit(f"worker failed\n{run.stderr[-3000:]}")
        figures = json.loads(run.stdout.strip().splitlines()[-1])
        assert (figures["joined"], figures["left"]) == (gone, gone), figures
        for side in ("joined", "left"):
            head = s3.head_object(Bucket=BUCKET, Key=f"{prefix}{JOB}/deltas/{NAME}.{side}.csv")
            figures[f"{side}_mb"] = round(head["ContentLength"] / 1e6, 1)
    print(json.dumps({"case": f"{args.users:,} users against {args.users:,}, {args.churn:g}% churn "
                              f"({gone:,} left, {gone:,} joined), audience files of {size / 1e6:.0f} MB",
                      **figures}, indent=2))


if __name__ == "__main__":
    main()

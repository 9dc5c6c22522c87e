#!/usr/bin/env python3
"""Benchmark: the audience export of one line against its streaming floor, side by side in one run.

The floor is the least any streaming export can do with a line: a GET of its bytes, ijson's C parse of its user
list in batches, one CSV row per user and a multipart upload of 8 MiB parts (one in flight while the next fills),
and nothing per user beyond that: no duplicate check, holdout or suppression. The project's path is the
post-processor's export (``audience_export.py``'s worker: plan, then the export handler, then publish; its
``export_seconds`` is the export alone). Both run against one moto server in its own process, each in a fresh
worker process (its peak resident memory its own), taking turns (ABBA order), ``--rounds`` times; medians and the
ratio are printed as JSON.

    python benchmarks/export_floor.py                        # one line of 5,000,000 users, 3 rounds
    python benchmarks/export_floor.py --holdout 10 --suppression 1000000 --duplicates 1

``--holdout P`` exports with a P% control group, ``--suppression N`` with a suppression list of N IDs (1% of the
line's users among them), ``--duplicates P`` writes P% of the line's IDs a second time (about 1,000 places back).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from audience_export import BUCKET, QUERY, moto_server, peak_rss_mb  # noqa: E402

PART_SIZE = 8 * 1024 * 1024
BATCH = 8192


def write_line(out, users: int, seed: int, duplicates: float = 0) -> None:
    """One output line of ``users`` IDs, as ``audience_export.write_line``; with ``duplicates`` percent of them an
    ID already written (about 1,000 places back), each such ID twice in all: the one written again is never one
    itself replaced (``back`` is no multiple of ``every``), nor one on ``--suppression``'s list (every 100th ID)."""
    every = round(100 / duplicates) if duplicates else 0
    back = 1000 + (1000 % every == 0) if every else 0

    def user(i: int) -> int:
        return i - back if every and i >= back and i % every == every // 2 else i

    out.write(b'{"input": {"itemAttributes": ' + json.dumps(QUERY).encode() + b'}, "output": {"recommendedUsers": [')
    step = 100_000
    for start in range(0, users, step):
        chunk = ",".join(f'"user-{seed}-{user(i):09d}"' for i in range(start, min(users, start + step)))
        out.write((("," if start else "") + chunk).encode())
    out.write(b"]}}\n")


def floor_worker(key: str) -> None:
    """Runs in its own process: GET, C parse, CSV rows, multipart upload; nothing else."""
    import boto3
    import ijson

    assert ijson.backend == "yajl2_c", f"ijson's {ijson.backend} backend: the floor needs the C one"
    s3 = boto3.client("s3")
    started, started_cpu = time.perf_counter(), time.process_time()
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
    target = f"floor/{key}.csv"
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=target, ContentType="text/csv")["UploadId"]
    uploader, parts, in_flight = ThreadPoolExecutor(max_workers=1), [], None
    buffer = bytearray(b"User.UserId\n")
    users = 0

    def send() -> None:
        nonlocal in_flight
        if in_flight is not None:
            parts[-1]["ETag"] = in_flight.result()["ETag"]
        parts.append({"PartNumber": len(parts) + 1})
        in_flight = uploader.submit(s3.upload_part, Bucket=BUCKET, Key=target, UploadId=upload,
                                    PartNumber=len(parts), Body=bytes(buffer))
        buffer.clear()

    items = ijson.items(body, "output.recommendedUsers.item", buf_size=1024 * 1024)
    while batch := list(islice(items, BATCH)):
        buffer += ("\n".join(batch) + "\n").encode()
        users += len(batch)
        if len(buffer) >= PART_SIZE:
            send()
    send()
    parts[-1]["ETag"] = in_flight.result()["ETag"]
    s3.complete_multipart_upload(Bucket=BUCKET, Key=target, UploadId=upload, MultipartUpload={"Parts": parts})
    uploader.shutdown()
    seconds = time.perf_counter() - started
    print(json.dumps({"users": users, "export_seconds": round(seconds, 3),
                      "export_cpu_seconds": round(time.process_time() - started_cpu, 3),
                      "users_per_second": round(users / seconds),
                      "peak_rss_mb": peak_rss_mb()}))


def run_worker(script: Path, flag: str, key: str, env: dict) -> dict:
    run = subprocess.run([sys.executable, str(script), flag, key], env=env, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{script.name} {flag} {key}: worker failed\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--holdout", type=float, default=0, help="holdout percent of the project's export")
    parser.add_argument("--suppression", type=int, default=0, metavar="IDS", help="suppression list size")
    parser.add_argument("--duplicates", type=float, default=0, metavar="PERCENT", help="IDs written twice")
    parser.add_argument("--floor-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_worker:
        return floor_worker(args.floor_worker)

    import boto3

    variables = {"HOLDOUT_PERCENT": f"{args.holdout:g}"}
    if args.suppression:
        variables["SUPPRESSION_LIST_URI"] = f"s3://{BUCKET}/suppression/list.csv"
    with moto_server(**variables) as (endpoint, env):
        s3 = boto3.client("s3", endpoint_url=endpoint)
        if args.suppression:  # every 100th user of the line, then IDs outside it
            listed = [f"user-0-{i:09d}" for i in range(0, args.users, 100)][:args.suppression]
            listed += [f"opted-out-{i:09d}" for i in range(args.suppression - len(listed))]
            s3.put_object(Bucket=BUCKET, Key="suppression/list.csv", Body=("\n".join(listed) + "\n").encode())
        with tempfile.NamedTemporaryFile(suffix=".out") as tmp:
            write_line(tmp, args.users, 0, args.duplicates)
            tmp.flush()
            size = Path(tmp.name).stat().st_size
            keys = [f"bench/floor-{n}/output/job_config.json.out" for n in range(args.rounds)]
            for key in keys:  # a fresh output per round: the plan skips an output already exported
                s3.upload_file(tmp.name, BUCKET, key)
        project, floor = [], []
        for number, key in enumerate(keys):
            turns = [("project", HERE / "audience_export.py", "--worker"), ("floor", Path(__file__), "--floor-worker")]
            for name, script, flag in turns if number % 2 == 0 else turns[::-1]:
                figures = run_worker(script, flag, key, env)
                (project if name == "project" else floor).append(figures)
                print(json.dumps({"round": number + 1, "path": name, **figures}), file=sys.stderr)

    def median(runs: list[dict], field: str) -> float:
        return statistics.median(r[field] for r in runs)

    summary = {name: {"export_seconds": median(runs, "export_seconds"),
                      "export_cpu_seconds": median(runs, "export_cpu_seconds"),
                      "users_per_second": round(args.users / median(runs, "export_seconds")),
                      "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "users_written": runs[0]["users"]}
               for name, runs in (("project", project), ("floor", floor))}
    print(json.dumps({
        "case": f"one line of {args.users:,} users ({size / 1e6:.1f} MB), holdout {args.holdout:g}%, "
                f"suppression {args.suppression:,} IDs, {args.duplicates:g}% duplicates",
        "machine": {"cpus": os.cpu_count()}, "rounds": args.rounds, **summary,
        "ratio": round(summary["project"]["export_seconds"] / summary["floor"]["export_seconds"], 2),
        "project_seconds": [r["export_seconds"] for r in project],
        "floor_seconds": [r["export_seconds"] for r in floor],
    }, indent=2))


if __name__ == "__main__":
    main()

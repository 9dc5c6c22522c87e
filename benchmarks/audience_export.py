#!/usr/bin/env python3
"""Benchmark: batch segment output → audience files, through S3 served by a moto server.

Generates batch segment outputs (one line of 100,000, 1,000,000 and 5,000,000 users, and a
multi-line file), uploads them to a moto server started in a separate process, and runs the
post-processing code (plan → export each line → publish) in a fresh worker process per case,
so its peak resident memory is the processing's own. Prints the figures as JSON.

    python benchmarks/audience_export.py            # all cases
    python benchmarks/audience_export.py --sizes 100000 --multi-lines 0
    python benchmarks/audience_export.py --in-memory --sizes 2000000   # export_line alone: no S3, no moto
    python benchmarks/audience_export.py --suppression 1000000         # the suppression list: memory, lookups

Targets (issue 3): 5,000,000 users in one line under 160 MB peak and at least 1,000,000 users/s.
``--in-memory`` parses a line held in memory (its bytes count in the peak) and writes to nothing: the parse,
duplicate check and CSV alone, the best of three runs (wall and CPU seconds). ``--suppression N`` loads N IDs
(tracemalloc: bytes an ID kept and at the peak of loading) and times 5,000,000 lookups in the export's batches,
1% and then 20% of them on the list.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import io
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "benchmark-data"
BUS = "benchmark-bus"
QUERY = 'ITEMS.GENRES = "Action"'
FUNCTIONS = ("batch_segment_postprocessor.plan", "batch_segment_postprocessor.export",
             "batch_segment_postprocessor.publish")  # the worker runs all three


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb() -> float:
    """This process's peak resident memory, MB: Linux's VmHWM, its own address space's. Not ``ru_maxrss``, which a
    process started by ``subprocess`` (vfork, then exec) inherits from its parent when the parent's was larger."""
    try:
        with open("/proc/self/status") as status:
            return round(next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024, 1)
    except (OSError, StopIteration):
        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def write_line(out, users: int, query: str, seed: int) -> None:
    """One output line, written in pieces: the generator never holds it whole either."""
    out.write(b'{"input": {"itemAttributes": ' + json.dumps(query).encode() + b'}, "output": {"recommendedUsers": [')
    step = 100_000
    for start in range(0, users, step):
        chunk = ",".join(f'"user-{seed}-{i:09d}"' for i in range(start, min(users, start + step)))
        out.write((("," if start else "") + chunk).encode())
    out.write(b"]}}\n")


def line_bytes(users: int) -> bytes:
    out = io.BytesIO()
    write_line(out, users, QUERY, 0)
    return out.getvalue()


def memory_worker(users: int) -> None:
    """Runs in its own process: ``export_line`` over a line in memory, its output thrown away."""
    sys.path.insert(0, str(ROOT / "lambda_src"))
    from batch_segment_postprocessor.export.segments import export_line

    data = line_bytes(users)
    # how the export reads a line again when its fast path cannot vouch for it (older code has no such argument)
    reopen = {"reopen": lambda: io.BytesIO(data)} if "reopen" in inspect.signature(export_line).parameters else {}
    wall, cpu = [], []  # the best of three: this machine may be busy with something else
    for _ in range(3):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = export_line(io.BytesIO(data), line=1, audience=len, control=len, salt=b"benchmark", capacity=users,
                             **reopen)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        assert result.error is None and result.users == users, result
    seconds = min(wall)
    print(json.dumps({"case": f"one line of {users:,} users, in memory", "output_mb": round(len(data) / 1e6, 1),
                      "users": result.users, "export_seconds": round(seconds, 3), "cpu_seconds": round(min(cpu), 3),
                      "users_per_second": round(users / seconds),
                      "peak_rss_mb": peak_rss_mb()}))


def suppression_worker(size: int, lookups: int = 5_000_000) -> None:
    """Runs in its own process: load ``size`` IDs, then ``lookups`` lookups as the export makes them."""
    import tracemalloc

    sys.path.insert(0, str(ROOT / "lambda_src"))
    from batch_segment_postprocessor.export import segments

    lines = [f"opted-out-{i:09d}\n" for i in range(size)]
    started = time.perf_counter()
    held = segments.load_suppression(lines)
    loaded = time.perf_counter() - started
    del held
    tracemalloc.start()  # again, traced (slower): what it keeps, and the peak while loading
    held = segments.load_suppression(lines)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    figures = {"case": f"suppression list of {size:,} IDs", "bytes_per_id": round(kept / size, 1),
               "peak_bytes_per_id_loading": round(peak / size, 1), "load_seconds": round(loaded, 2)}
    for share in (1, 20):  # percent of the users looked up that are on the list
        users = [f"opted-out-{i % size:09d}" if i % 100 < share else f"customer-{i:09d}" for i in range(lookups)]
        for user in users:  # hashes already computed, as the duplicate check leaves them
            hash(user)
        batch = 8192
        started, started_cpu = time.perf_counter(), time.process_time()
        if hasattr(held, "without"):
            left = sum(len(held.without(users[i:i + batch])) for i in range(0, lookups, batch))
        else:  # the frozenset of blake2b fingerprints it replaced
            left = sum(len([u for u in users[i:i + batch] if segments.user_hash(u) not in held])
                       for i in range(0, lookups, batch))
        seconds, cpu = time.perf_counter() - started, time.process_time() - started_cpu
        assert lookups - left == lookups * share // 100, lookups - left
        figures[f"lookups_{share}pct_listed"] = {"lookups": lookups, "seconds": round(seconds, 3), "cpu_seconds":
                                                 round(cpu, 3), "ns_per_lookup": round(cpu / lookups * 1e9)}
    print(json.dumps(figures))


def local_case(flag: str, value: int) -> dict:
    run = subprocess.run([sys.executable, __file__, flag, str(value)], capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{flag} {value}: worker failed\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def worker(key: str) -> None:
    """Runs in its own process: the Lambda code against the moto server."""
    sys.path.insert(0, str(ROOT / "lambda_src"))
    from batch_segment_postprocessor.export import handler as export_handler
    from batch_segment_postprocessor.plan import handler as plan_handler
    from batch_segment_postprocessor.publish import handler as publish_handler
    from shared.audiences import s3

    started = time.perf_counter()
    plan = plan_handler.handler({"source": "aws.s3", "detail": {"bucket": {"name": BUCKET}, "object": {"key": key}}},
                                None)
    planned, planned_cpu = time.perf_counter(), time.process_time()
    items = json.loads(s3().get_object(Bucket=BUCKET, Key=plan["itemsKey"])["Body"].read())
    users = sum(export_handler.handler(item, None)["userCount"] for item in items)
    exported, exported_cpu = time.perf_counter(), time.process_time()
    published = publish_handler.handler(plan, None)
    finished = time.perf_counter()
    print(json.dumps({
        "lines": len(items), "users": users, "segments_ready": published["ready"],
        "plan_seconds": round(planned - started, 3), "export_seconds": round(exported - planned, 3),
        "export_cpu_seconds": round(exported_cpu - planned_cpu, 3),  # this process's, the upload thread's included
        "total_seconds": round(finished - started, 3),
        "users_per_second": round(users / (finished - started)),
        "peak_rss_mb": peak_rss_mb(),
    }))


def functions_environment(endpoint: str, **overrides: str) -> dict[str, str]:
    """The environment the workers run with: the post-processor's functions' variables as the example stack
    synthesizes them (``tests/fakes/function_environment.py``: a variable added or renamed there reaches the
    benchmarks too), its references resolved to the moto server's bucket and bus, then ``overrides`` (variables
    of the contract only: HOLDOUT_PERCENT, SUPPRESSION_LIST_URI...), fake credentials and the endpoint. No other
    contract variable of this process's environment is passed on."""
    sys.path[:0] = [str(ROOT), str(ROOT / "lambda_src")]
    os.environ.setdefault("CDK_VALIDATION", "false")  # as the tests synthesize: a third of the synth's time
    from shared.contract import ENVIRONMENT_VARIABLES
    from tests.fakes.function_environment import environment

    unknown = sorted(set(overrides) - ENVIRONMENT_VARIABLES)
    if unknown:
        raise SystemExit(f"no such variable in shared/contract.py: {', '.join(unknown)}")
    synthesized = environment(*FUNCTIONS, AUDIENCE_BUCKET=BUCKET, SOURCE_BUCKET=BUCKET, EVENT_BUS_NAME=BUS,
                              ERASED_USERS_URI=f"s3://{BUCKET}/erasure/_erased/users.csv")  # absent: none erased
    inherited = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    return {**inherited, **synthesized, **overrides, "AWS_ACCESS_KEY_ID": "benchmark",
            "AWS_SECRET_ACCESS_KEY": "benchmark", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}


@contextlib.contextmanager
def moto_server(**variables: str):
    """A moto server in its own process, the bucket and bus created; yields its endpoint and the environment
    the workers run with (``functions_environment``, ``variables`` its overrides; also set in this process's)."""
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = functions_environment(endpoint, **variables)
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        os.environ.update(env)
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the moto server did not start")
                time.sleep(0.2)
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket=BUCKET)
        boto3.client("events", endpoint_url=endpoint).create_event_bus(Name=BUS)
        yield endpoint, env
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000, 5_000_000])
    parser.add_argument("--multi-lines", type=int, default=10, help="lines in the multi-line file (0: skip)")
    parser.add_argument("--multi-users", type=int, default=200_000, help="users per line of the multi-line file")
    parser.add_argument("--in-memory", action="store_true", help="export_line alone, for each of --sizes (no S3)")
    parser.add_argument("--suppression", type=int, nargs="*", metavar="IDS",
                        help="measure suppression lists of these sizes instead")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--memory-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--suppression-worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    if args.memory_worker:
        return memory_worker(args.memory_worker)
    if args.suppression_worker:
        return suppression_worker(args.suppression_worker)
    if args.suppression or args.in_memory:
        results = [local_case("--suppression-worker", n) for n in args.suppression or []] if args.suppression else \
            [local_case("--memory-worker", n) for n in args.sizes]
        print(json.dumps({"machine": {"cpus": os.cpu_count()}, "results": results}, indent=2))
        return

    import boto3

    with moto_server() as (endpoint, env):
        s3 = boto3.client("s3", endpoint_url=endpoint)
        cases = [(f"one line of {n:,} users", [n]) for n in args.sizes]
        if args.multi_lines:
            cases.append((f"{args.multi_lines} lines of {args.multi_users:,} users", [args.multi_users] * args.multi_lines))
        results = []
        for number, (name, lines) in enumerate(cases):
            key = f"bench/case-{number}/output/job_config.json.out"
            with tempfile.NamedTemporaryFile(suffix=".out") as tmp:
                for seed, users in enumerate(lines):
                    write_line(tmp, users, f'{QUERY} AND ITEMS.DECADE = "{seed}"', seed)
                tmp.flush()
                size = Path(tmp.name).stat().st_size
                s3.upload_file(tmp.name, BUCKET, key)
            run = subprocess.run([sys.executable, __file__, "--worker", key], env=env, capture_output=True, text=True)
            if run.returncode:
                raise SystemExit(f"{name}: worker failed\n{run.stderr[-3000:]}")
            figures = json.loads(run.stdout.strip().splitlines()[-1])
            results.append({"case": name, "output_mb": round(size / 1e6, 1), **figures})
            print(json.dumps(results[-1]), file=sys.stderr)
        print(json.dumps({"machine": {"cpus": os.cpu_count()}, "results": results}, indent=2))


if __name__ == "__main__":
    main()

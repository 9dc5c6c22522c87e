"""How fast an endpoint-ID import joins Pinpoint's endpoint export with an audience, and in how much memory.

Generates (once, cached under the temp folder) an export of 2 × N endpoints as gzipped JSON lines in
files of 1,000,000 endpoints, shaped like Pinpoint's: half the audience's users have two endpoints
(EMAIL and SMS), the other half none, and as many users outside the audience have two each. Then it
runs the importer's join (``lambda_src/pinpoint_segment_importer/importer/endpoints.py``) over an
audience of N users (default 5,000,000, Personalize's per-query maximum) read line by line, writing the
``Id`` file to a counting sink, and prints the time of each phase and the process's peak resident memory.

    python benchmarks/endpoint_join.py [users]
    python benchmarks/endpoint_join.py --floor [users] [--rounds 3]

``--floor`` runs the join and its floor side by side, each in a fresh process (its peak resident memory its own),
taking turns (ABBA), and prints the medians and the ratio as JSON. The floor is the least a streaming join can do:
the audience's IDs in a Python ``set`` (bytes), then each export file gunzipped by zlib in 1 MB pieces, split
into lines, each line's user ID found by the same regular expression and looked up in the set; nothing parsed,
checked or written.
"""

from __future__ import annotations

import argparse
import gzip
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from itertools import islice
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "lambda_src")]

from pinpoint_segment_importer.importer.endpoints import USER_ID, audience_users, resolve  # noqa: E402

PER_FILE = 1_000_000


def audience_lines(users: int):
    yield b"User.UserId\n"
    for i in range(users):
        yield b"user-%07d\n" % i


def endpoint(number: int, user: int) -> str:
    channel = "EMAIL" if number % 2 == 0 else "SMS"
    return json.dumps({
        "Id": f"endpoint-{number:08d}", "ChannelType": channel,
        "Address": f"user{user}@example.com" if channel == "EMAIL" else f"+1555{user:07d}",
        "EndpointStatus": "ACTIVE", "OptOut": "NONE", "EffectiveDate": "2026-09-01T10:00:00.000Z",
        "CreationDate": "2026-01-15T08:30:00.000Z", "Location": {"Country": "US", "City": "Seattle"},
        "Demographic": {"Platform": "ios", "AppVersion": "4.2.0"}, "Attributes": {"Interests": ["movies"]},
        "Metrics": {"sessions": 12.0}, "User": {"UserId": f"user-{user:07d}", "UserAttributes": {}}},
        separators=(",", ":"))


def export_files(users: int) -> list[Path]:
    folder = Path(tempfile.gettempdir()) / f"pinpoint-endpoint-export-{users}"
    done = folder / "complete"
    if not done.exists():
        folder.mkdir(exist_ok=True)
        total, first_user = 2 * users, users // 2
        for start in range(0, total, PER_FILE):
            with gzip.open(folder / f"{start // PER_FILE:04d}.gz", "wt", compresslevel=6) as out:
                out.writelines(endpoint(n, first_user + n // 2) + "\n" for n in range(start, min(start + PER_FILE, total)))
        done.touch()
    return sorted(folder.glob("*.gz"))


def peak_mb() -> float:
    """This process's peak resident memory, MB (1e6 bytes): Linux's VmHWM, its own; not ``ru_maxrss``, which a
    worker started by ``subprocess`` inherits from its parent when the parent's was larger."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024 / 1e6
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6


def project(users: int, files: list[Path]) -> dict:
    """The importer's join (a fresh process): audience fingerprints, then the join, written to a counting sink."""
    written = 0

    def sink(text: str) -> None:
        nonlocal written
        written += len(text)

    started = time.perf_counter()
    audience = audience_users(audience_lines(users))
    loaded = time.perf_counter() - started
    handles = [(f.name, f.open("rb")) for f in files]
    started = time.perf_counter()
    result = resolve(audience, handles, sink)
    joined = time.perf_counter() - started
    return {"load_seconds": round(loaded, 2), "join_seconds": round(joined, 2),
            "total_seconds": round(loaded + joined, 2),
            "peak_rss_mb": round(peak_mb(), 1), "endpoints_kept": result.endpoints, "written_mb": round(written / 1e6),
            "users_matched": result.users_matched, "users_without_endpoints": result.users_without_endpoints}


def floor(users: int, files: list[Path]) -> dict:
    """The floor (a fresh process): a set of the audience's IDs; zlib, split, the user-ID regex and a lookup."""
    started = time.perf_counter()
    audience = set(line.rstrip(b"\n") for line in islice(audience_lines(users), 1, None))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    members = 0
    for path in files:
        unzip, pending = zlib.decompressobj(wbits=31), b""
        with path.open("rb") as body:
            while True:
                data = unzip.unconsumed_tail or body.read(1 << 20)
                if not data:
                    break
                lines = (pending + unzip.decompress(data, 1 << 20)).split(b"\n")
                pending = lines.pop()
                for line in lines:
                    found = USER_ID.search(line)
                    if found and found.group(1) in audience:
                        members += 1
    joined = time.perf_counter() - started
    return {"load_seconds": round(loaded, 2), "join_seconds": round(joined, 2),
            "total_seconds": round(loaded + joined, 2),
            "peak_rss_mb": round(peak_mb(), 1), "endpoints_of_members": members}


def side_by_side(users: int, rounds: int) -> None:
    files = export_files(users)
    runs: dict[str, list[dict]] = {"project": [], "floor": []}
    for number in range(rounds):
        for name in ("project", "floor") if number % 2 == 0 else ("floor", "project"):
            run = subprocess.run([sys.executable, __file__, "--worker", name, str(users)], capture_output=True,
                                 text=True)
            if run.returncode:
                raise SystemExit(f"{name} failed\n{run.stderr[-3000:]}")
            runs[name].append(json.loads(run.stdout.strip().splitlines()[-1]))
            print(json.dumps({"round": number + 1, "path": name, **runs[name][-1]}), file=sys.stderr)
    summary = {name: {field: statistics.median(r[field] for r in found)
                      for field in ("load_seconds", "join_seconds", "total_seconds", "peak_rss_mb")}
               for name, found in runs.items()}
    print(json.dumps({"case": f"{2 * users:,} endpoints in {len(files)} files against an audience of {users:,} users",
                      "rounds": rounds, **summary,
                      "ratio_join": round(summary["project"]["join_seconds"] / summary["floor"]["join_seconds"], 2),
                      "ratio_total": round(summary["project"]["total_seconds"] / summary["floor"]["total_seconds"], 2),
                      "project_total_seconds": [r["total_seconds"] for r in runs["project"]],
                      "floor_total_seconds": [r["total_seconds"] for r in runs["floor"]]}, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("users", type=int, nargs="?", default=5_000_000)
    parser.add_argument("--floor", action="store_true", help="the join and its floor side by side")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", choices=("project", "floor"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work = project if args.worker == "project" else floor
        print(json.dumps(work(args.users, export_files(args.users))))
        return
    if args.floor:
        return side_by_side(args.users, args.rounds)
    started = time.perf_counter()
    files = export_files(args.users)
    print(f"export: {2 * args.users:,} endpoints in {len(files)} files, "
          f"{sum(f.stat().st_size for f in files) / 1e6:.0f} MB gzipped (ready in {time.perf_counter() - started:.1f} s)")
    figures = project(args.users, files)
    print(f"audience: {args.users:,} users fingerprinted in {figures['load_seconds']:.2f} s")
    print(f"join: {2 * args.users:,} endpoints read in {figures['join_seconds']:.2f} s "
          f"({2 * args.users / figures['join_seconds'] / 1e6:.2f} M endpoints/s); "
          f"{figures['endpoints_kept']:,} endpoint IDs kept ({figures['written_mb']} MB), "
          f"{figures['users_matched']:,} users matched, {figures['users_without_endpoints']:,} without endpoints")
    print(f"total {figures['total_seconds']:.1f} s, peak RSS {figures['peak_rss_mb']:.1f} MB")


if __name__ == "__main__":
    main()

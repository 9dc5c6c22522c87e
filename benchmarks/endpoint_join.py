"""How fast an endpoint-ID import joins Pinpoint's endpoint export with an audience, and in how much memory.

Generates (once, cached under the temp folder) an export of 2 × N endpoints as gzipped JSON lines in
files of 1,000,000 endpoints, shaped like Pinpoint's: half the audience's users have two endpoints
(EMAIL and SMS), the other half none, and as many users outside the audience have two each. Then it
runs the importer's join (``lambda_src/pinpoint_segment_importer/importer/endpoints.py``) over an
audience of N users (default 5,000,000, Personalize's per-query maximum) read line by line, writing the
``Id`` file to a counting sink, and prints the time of each phase and the process's peak resident memory.

    python benchmarks/endpoint_join.py [users]
"""

from __future__ import annotations

import gzip
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "lambda_src")]

from pinpoint_segment_importer.importer.endpoints import audience_users, resolve  # noqa: E402

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


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    started = time.perf_counter()
    files = export_files(users)
    print(f"export: {2 * users:,} endpoints in {len(files)} files, "
          f"{sum(f.stat().st_size for f in files) / 1e6:.0f} MB gzipped (ready in {time.perf_counter() - started:.1f} s)")
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
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"audience: {users:,} users fingerprinted in {loaded:.2f} s")
    print(f"join: {2 * users:,} endpoints read in {joined:.2f} s ({2 * users / joined / 1e6:.2f} M endpoints/s); "
          f"{result.endpoints:,} endpoint IDs kept ({written / 1e6:.0f} MB), {result.users_matched:,} users matched, "
          f"{result.users_without_endpoints:,} without endpoints")
    print(f"total {loaded + joined:.1f} s, peak RSS {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

"""How fast the Customer Profiles importer turns an audience file into its upload, and in how much memory.

The importer streams the file twice (once for the length, once as the PUT body); this measures one pass of
``rows_for_upload`` over a generated file of N users (default 5,000,000, Personalize's per-query maximum),
read line by line as from S3, and the process's peak resident memory (the input is generated, never held).

    python benchmarks/connect_upload.py [users]
"""

from __future__ import annotations

import sys
import time
import resource
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent / "lambda_src")]

from connect_segment_importer.importer.upload import rows_for_upload  # noqa: E402


def audience_lines(users: int):
    yield b"User.UserId\n"
    for i in range(users):
        yield b"user-%07d\n" % i


def main() -> None:
    users = int(sys.argv[1]) if len(sys.argv) > 1 else 5_000_000
    started = time.perf_counter()
    sent = sum(len(piece) for piece in rows_for_upload(audience_lines(users), "0123456789abcdef"))
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"{users:,} users -> {sent / 1e6:.1f} MB of upload in {elapsed:.2f} s per pass "
          f"({users / elapsed / 1e6:.2f} M users/s), peak RSS {peak / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

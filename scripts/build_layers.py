#!/usr/bin/env python3
"""Rebuild the prebuilt Lambda layers in lambda_src/vendor/<name>/python/ from their requirements.txt pins.

Run by a maintainer when a pin changes (it needs the package index); synth never runs it. Wheels are chosen for
the functions' platform (arm64, the runtime's CPython), unpacked exactly as Lambda mounts a layer under /opt.

    python scripts/build_layers.py            # every layer
    python scripts/build_layers.py ijson      # one
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

LAYERS = Path(__file__).resolve().parent.parent / "lambda_src" / "vendor"
PLATFORM, PYTHON = "manylinux2014_aarch64", "3.14"  # segmentation_constructs/_lambda.py: ARM_64, PYTHON_3_14


def build(name: str) -> None:
    folder = LAYERS / name
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                        "--platform", PLATFORM, "--implementation", "cp", "--python-version", PYTHON,
                        "-r", str(folder / "requirements.txt"), "-d", wheels], check=True)
        shutil.rmtree(folder / "python", ignore_errors=True)
        for wheel in sorted(Path(wheels).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(folder / "python")
            print(f"{name}: {wheel.name}")


if __name__ == "__main__":
    for layer in sys.argv[1:] or sorted(p.name for p in LAYERS.iterdir() if (p / "requirements.txt").is_file()):
        build(layer)

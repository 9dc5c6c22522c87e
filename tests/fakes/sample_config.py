"""The sample training config (data/train/bingewatch/) as the validator tests start from it."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"
SAMPLE_KEY = "train/bingewatch/config.json"
SAMPLE = json.loads((DATA / SAMPLE_KEY).read_text())
# the CSVs beside the config, as the validator reads them: their header rows
HEADERS = {
    f"train/bingewatch/{name}.csv": (DATA / f"train/bingewatch/{name}.csv").read_text().splitlines()[0] + "\n"
    for name in ("interactions", "items", "users")
}
ATTRIBUTE = "arn:aws:personalize:::recipe/aws-item-attribute-affinity"

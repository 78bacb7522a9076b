"""Building CloudTrail files for tests: real records of the public datasets (tests/conftest.py's
`real`), laid out and compressed the way AWS delivers them."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

from tests.conftest import SAMPLE_LOGS, real

ORG = "o-a1b2c3d4e5"


@cache
def invictus_records() -> tuple[dict[str, Any], ...]:
    """The 2,900 real records of the invictus dataset, in file order (the test skips without
    the dataset)."""
    out: list[dict[str, Any]] = []
    for path in sorted((real("invictus-aws_dataset") / "CloudTrail").glob("*.json")):
        out += json.loads(path.read_bytes())["Records"]
    return tuple(out)


@cache
def sample_records() -> tuple[dict[str, Any], ...]:
    """The records of the sample organization (sample_logs/, in the repository), in file order:
    for tests that need realistic records but not real ones, so they run in every clone."""
    out: list[dict[str, Any]] = []
    for path in sorted(SAMPLE_LOGS.rglob("*.json.gz")):
        out += json.loads(gzip.decompress(path.read_bytes()))["Records"]
    return tuple(out)


def delivery_bytes(records: list[dict[str, Any]]) -> bytes:
    """A delivery file's content as AWS writes it: compact, eventVersion first."""
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def write_delivery(
    root: Path,
    account: str,
    region: str,
    day: str,
    name: str,
    records: list[dict[str, Any]],
    *,
    org: bool = True,
) -> Path:
    """Write one .json.gz under AWSLogs/[o-org/]account/CloudTrail/region/YYYY/MM/DD/."""
    y, m, d = day.split("-")
    folder = root / "AWSLogs" / (ORG if org else "") / account / "CloudTrail" / region / y / m / d
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{account}_CloudTrail_{region}_{y}{m}{d}T1200Z_{name}.json.gz"
    path.write_bytes(gzip.compress(delivery_bytes(records)))
    return path

"""The synthetic CloudTrail generator and the committed sample organization (sample_logs/)."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from trailscope.synthetic import PLANTED, generate_background, generate_org, main
from trailscope.synthetic import generate as synthetic
from trailscope.synthetic.story import (
    CHECKS,
    EVENTS,
    MANAGEMENT,
    SECURITY,
    TASK_POLICIES,
)

SAMPLE = Path(__file__).resolve().parents[1] / "sample_logs"
KEY = re.compile(
    r"AWSLogs/(?:(o-[a-z0-9]{10})/)?(\d{12})/CloudTrail/([a-z]{2}-[a-z]+-\d)/(\d{4})/(\d\d)/(\d\d)/"
    r"(\d{12})_CloudTrail_([a-z]{2}-[a-z]+-\d)_(\d{8}T\d{4}Z)_[A-Za-z0-9]{16}\.json\.gz$"
)
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
Record = dict[str, Any]


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json.gz"))


def _tree_hashes(root: Path, *, decompress: bool) -> dict[str, str]:
    out = {}
    for p in sorted(q for q in root.rglob("*") if q.is_file()):
        data = p.read_bytes()
        if decompress and p.suffix == ".gz":
            data = gzip.decompress(data)
        elif p.suffix == ".md":
            data = data.replace(b"\r\n", b"\n")
        out[p.relative_to(root).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


def _read(root: Path) -> list[tuple[str, Record]]:
    """(path relative to root, record) for every record, checking each file's framing."""
    out = []
    for p in _files(root):
        rel = p.relative_to(root).as_posix()
        raw = gzip.decompress(p.read_bytes())
        assert raw.startswith(b'{"Records":[{"eventVersion":"'), rel
        doc = json.loads(raw)
        assert json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() == raw, rel
        out += [(rel, r) for r in doc["Records"]]
    return out


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _expiration(text: str) -> datetime:
    t = datetime.strptime(text.replace("\u202f", " "), "%b %d, %Y, %I:%M:%S %p")
    return t.replace(tzinfo=UTC)


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, Record]]:
    assert (SAMPLE / "AWSLogs").is_dir(), "run: python -m trailscope.synthetic sample_logs/"
    return _read(SAMPLE)


@pytest.fixture(scope="module")
def by_id(sample: list[tuple[str, Record]]) -> dict[str, Record]:
    return {r["eventID"]: r for _, r in sample}


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    a = generate_background(tmp_path / "a", events=3000, seed=11)
    b = generate_background(tmp_path / "b", events=3000, seed=11)
    c = generate_background(tmp_path / "c", events=3000, seed=12)
    assert a == b and a.events == c.events == 3000 and a.files > 10
    assert _tree_hashes(tmp_path / "a", decompress=False) == _tree_hashes(
        tmp_path / "b", decompress=False
    )
    assert _tree_hashes(tmp_path / "a", decompress=True) != _tree_hashes(
        tmp_path / "c", decompress=True
    )


def test_background_shapes(tmp_path: Path) -> None:
    summary = generate_background(tmp_path, events=5000, seed=3)
    records = _read(tmp_path)
    assert len(records) == summary.events == 5000
    assert sum(p.stat().st_size for p in _files(tmp_path)) == summary.bytes
    ids = Counter(r["eventID"] for _, r in records)
    assert max(ids.values()) == 1
    per_file = Counter(path for path, _ in records)
    assert max(per_file.values()) <= synthetic.MAX_RECORDS
    for path, r in records:
        m = KEY.search(path)
        assert m and m.group(1) == "o-tr41lsc0pe", path
        assert m.group(2) == m.group(7) == r["recipientAccountId"]
        assert m.group(3) == m.group(8) == r["awsRegion"]
        assert next(iter(r)) == "eventVersion" and r["eventVersion"] in (
            "1.08",
            "1.09",
            "1.10",
            "1.11",
        )
        assert TIME.fullmatch(r["eventTime"])
        assert _when(r["eventTime"]) < datetime.strptime(m.group(9), "%Y%m%dT%H%MZ").replace(
            tzinfo=UTC
        )
        # nothing in the background may look like root power or an organization change
        ident = r["userIdentity"]
        assert ident.get("type") != "Root" and "assumedRoot" not in json.dumps(ident)
        assert r["eventName"] not in ("AssumeRoot", "CreateServiceLinkedRole")
        assert r["eventSource"] != "organizations.amazonaws.com" or r["readOnly"]
        if r["eventSource"] in (
            "iam.amazonaws.com",
            "signin.amazonaws.com",
            "organizations.amazonaws.com",
        ):
            assert r["awsRegion"] == "us-east-1"
    errors = sum("errorMessage" in r for _, r in records) / len(records)
    assert 0.03 < errors < 0.07
    types = Counter(r["userIdentity"].get("type") for _, r in records)
    assert {"IAMUser", "AssumedRole", "AWSService", "FederatedUser", None} <= set(types)
    assert sum(r.get("eventCategory") == "Data" for _, r in records) > 200
    size = sum(len(json.dumps(r, separators=(",", ":"))) for _, r in records) / len(records)
    assert 1000 < size < 1600


def test_bad_arguments_and_cli(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_background(tmp_path / "x", events=-1)
    with pytest.raises(ValueError):
        generate_background(tmp_path / "x", events=10, accounts=["123"])
    assert main([str(tmp_path / "cli"), "--events", "200", "--background-only"]) == 0
    assert main([str(tmp_path / "cli"), "--events", "200", "--background-only"]) == 2
    assert main([str(tmp_path / "cli"), "--events", "300", "--background-only", "--force"]) == 0
    assert len(_read(tmp_path / "cli")) == 300


def test_sample_logs_is_fresh(tmp_path: Path) -> None:
    """sample_logs/ is exactly what the generator writes today (contents compared after gunzip,
    so a different zlib build cannot fail the test)."""
    generate_org(tmp_path)
    fresh = _tree_hashes(tmp_path, decompress=True)
    committed = _tree_hashes(SAMPLE, decompress=True)
    assert fresh == committed, (
        "sample_logs/ is stale: python -m trailscope.synthetic sample_logs/ --force"
    )


def test_sample_layout(sample: list[tuple[str, Record]]) -> None:
    size = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert size < 6_000_000
    assert len(sample) >= 20_000 + len(EVENTS)
    for path, r in sample:
        m = KEY.search(path)
        assert m, path
        assert next(iter(r)) == "eventVersion" and TIME.fullmatch(r["eventTime"])
        assert m.group(2) == m.group(7) == r["recipientAccountId"], path
        assert m.group(3) == m.group(8) == r["awsRegion"], path
        outside = m.group(2).startswith("5")  # the other organization: account trails only
        assert m.group(1) is None if outside else m.group(1) or m.group(2) == SECURITY, path
    # eventIDs are unique except the copies planted as N07, which are identical
    copies: dict[str, list[tuple[str, Record]]] = {}
    for path, r in sample:
        copies.setdefault(r["eventID"], []).append((path, r))
    twice = {k: v for k, v in copies.items() if len(v) > 1}
    n07 = next(c for c in PLANTED if c.case_id == "N07")
    assert set(twice) == set(n07.event_ids)
    for (p1, r1), (p2, r2) in twice.values():
        assert r1 == r2 and {p1.startswith("AWSLogs/o-"), p2.startswith("AWSLogs/o-")} == {
            True,
            False,
        }


def test_planted_cases(by_id: dict[str, Record]) -> None:
    ids = [c.case_id for c in PLANTED]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[PN]\d\d", i) for i in ids)
    checks = {c.check for c in PLANTED}
    assert checks == set(CHECKS)
    for c in PLANTED:
        assert (c.check == "none") == (c.severity == "none") == c.case_id.startswith("N")
        assert c.event_ids and len(set(c.event_ids)) == len(c.event_ids)
        for eid in c.event_ids:
            assert eid in by_id, (c.case_id, eid)
        if c.case_id != "N07":  # N07 gathers other cases' events
            assert all(
                by_id[e]["userAgent"].endswith(f"trailscope-case/{c.case_id}") for e in c.event_ids
            ), c.case_id
    readme = (SAMPLE / "README.md").read_text(encoding="utf-8")  # equal to a fresh one: above
    assert all(f"| {i} |" in readme for i in ids)


def _case(case_id: str, by_id: dict[str, Record]) -> list[Record]:
    case = next(c for c in PLANTED if c.case_id == case_id)
    return sorted((by_id[e] for e in case.event_ids), key=lambda r: r["eventTime"])


def test_story_sessions(by_id: dict[str, Record]) -> None:
    """The facts the checks will rely on hold in the data."""
    calls = [r for r in by_id.values() if r["eventName"] == "AssumeRoot"]
    issued = {}
    doors = set()
    for r in calls:
        req = r["requestParameters"]
        assert set(req) <= {"targetPrincipal", "taskPolicyArn", "durationSeconds"}
        assert set(req["taskPolicyArn"]) == {"arn"}
        if "errorCode" in r:
            assert r["responseElements"] is None
            continue
        cred = r["responseElements"]["credentials"]
        assert cred["accessKeyId"].startswith("ASIA")
        expires = _expiration(cred["expiration"])
        assert expires == _when(r["eventTime"]) + timedelta(seconds=req.get("durationSeconds", 900))
        issued[cred["accessKeyId"]] = r
        doors.add((r["recipientAccountId"], req["taskPolicyArn"]["arn"].rsplit("/", 1)[-1]))
    for door in (MANAGEMENT, SECURITY):
        assert {p for a, p in doors if a == door} >= set(TASK_POLICIES), door
    sessions: dict[str, list[Record]] = {}
    for r in by_id.values():
        ctx = r["userIdentity"].get("sessionContext", {})
        if r["userIdentity"].get("type") == "Root" and ctx.get("assumedRoot") == "true":
            sessions.setdefault(r["userIdentity"]["accessKeyId"], []).append(r)
    orphans = {k for k in sessions if k not in issued}
    assert orphans == {_case(c, by_id)[0]["userIdentity"]["accessKeyId"] for c in ("P12", "P27")}
    for key, events in sessions.items():
        if key in issued:
            target = str(issued[key]["requestParameters"]["targetPrincipal"])
            assert all(e["recipientAccountId"] == target for e in events)
            assert all(
                e["userIdentity"]["sessionContext"]["attributes"]["creationDate"]
                == issued[key]["eventTime"]
                for e in events
            )

    def span(case_id: str) -> float:
        rs = _case(case_id, by_id)
        assert rs[0]["eventName"] == "AssumeRoot"
        return (_when(rs[-1]["eventTime"]) - _when(rs[0]["eventTime"])).total_seconds()

    assert span("N01") == 899
    assert span("P03") > 900 and not any("errorCode" in r for r in _case("P03", by_id))
    assert span("P02") > 900 and _case("P02", by_id)[-1]["errorCode"] == "ExpiredToken"
    assert _case("P01", by_id)[0]["requestParameters"]["durationSeconds"] > 900
    p15 = _case("P15", by_id)
    deleted = _case("N02", by_id)[-1]["eventTime"]
    assert all(r["eventTime"] > deleted for r in p15)
    assert all("assumedRoot" not in json.dumps(r["userIdentity"]) for r in p15)

"""Findings (issues 4 and 15): every planted case of the sample organization raises its
finding, the near misses raise nothing, the findings API, allow-list and command behave, and
each AWS fact a check rests on is judged as AWS documents it (tests/fixtures/assume_root)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES, ROOT, load_module
from trailscope import findings
from trailscope.analysis import load_queries
from trailscope.cli import cli
from trailscope.errors import TrailscopeError
from trailscope.findings import CHECK_COLUMNS, OUTPUT_COLUMNS
from trailscope.synthetic import PLANTED
from trailscope.trail import Trail

CHECKS = (
    "authorization",
    "duplicate_conflict",
    "duration",
    "integrity",
    "org_changes",
    "orphan",
    "root_outside_assumeroot",
    "task_scope",
)
# the checks the sample's logs raise: integrity needs `trailscope verify` and digests, which the
# sample has none of (tests/test_integrity.py checks those findings); the sample holds no
# conflicting copies (tests/test_ingest.py and tests/test_hostile.py raise duplicate_conflict)
CHECKED = tuple(c for c in CHECKS if c not in ("integrity", "duplicate_conflict"))
PLANTED_CASES = [c for c in PLANTED if c.check in CHECKED]
NEAR_MISSES = [c for c in PLANTED if c.check == "none"]
N02 = {c.case_id: c for c in PLANTED}["N02"]
MAKE = load_module(FIXTURES / "assume_root" / "make.py")


@pytest.fixture(scope="module")
def all_findings(sample_trail: Trail) -> pl.DataFrame:
    return sample_trail.findings()


def _evidence(df: pl.DataFrame) -> list[tuple[dict[str, Any], set[str]]]:
    return [(r, set(r["evidence_event_ids"].split(","))) for r in df.rows(named=True)]


@pytest.mark.parametrize("case", PLANTED_CASES, ids=lambda c: c.case_id)
def test_each_planted_case_raises_its_finding(all_findings: pl.DataFrame, case: Any) -> None:
    hits = [
        r
        for r, ids in _evidence(all_findings)
        if r["check"] == case.check and case.event_ids[0] in ids
    ]
    assert hits, f"{case.case_id}: no {case.check} finding points at {case.event_ids[0]}"
    assert [(r["severity"], r["account_id"]) for r in hits] == [(case.severity, case.account)]


def test_near_misses_raise_nothing(all_findings: pl.DataFrame) -> None:
    """No near-miss event is evidence of a finding, unless it is also part of a planted case
    (N07's duplicated deliveries include P05's and P06's calls)."""
    planted = {e for c in PLANTED if c.check != "none" for e in c.event_ids}
    for case in NEAR_MISSES:
        for row, ids in _evidence(all_findings):
            stray = (ids & set(case.event_ids)) - planted
            assert not stray, f"{case.case_id} raised {row['check']}/{row['rule']}: {row['title']}"


def test_context_is_kept_apart_from_evidence(all_findings: pl.DataFrame) -> None:
    p15 = all_findings.filter(pl.col("severity") == "critical").row(0, named=True)
    assert p15["context_event_ids"] == N02.event_ids[4]  # the central DeleteLoginProfile
    assert N02.event_ids[4] not in p15["evidence_event_ids"]


def test_every_finding_has_the_common_shape(
    sample_trail: Trail, all_findings: pl.DataFrame
) -> None:
    assert tuple(all_findings.columns) == OUTPUT_COLUMNS
    assert findings.checks(sample_trail.analysis) == CHECKS
    for name in findings.checks(sample_trail.analysis):
        assert load_queries()[f"check_{name}"].outputs[:10] == CHECK_COLUMNS
    assert set(all_findings["check"]) == set(CHECKED)
    assert set(all_findings["severity"]) <= set(findings.SEVERITIES)
    assert all_findings["finding_id"].is_unique().all()
    for row in all_findings.rows(named=True):
        assert row["title"] and row["explanation"] and row["event_time"] is not None
        text = f"{row['check']}/{row['rule']}/{row['evidence_event_ids']}"
        assert row["finding_id"] == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert len(all_findings) == len(PLANTED_CASES) == 22  # one for each planted case
    orphan = all_findings.filter(pl.col("check") == "orphan").row(0, named=True)
    assert orphan["session_id"] == "ASIAP3YNZBADRG5FVBVE"
    assert len(orphan["evidence_event_ids"].split(",")) == 3
    assert orphan["context_event_ids"] is None


def test_ids_are_stable(sample_trail: Trail, all_findings: pl.DataFrame) -> None:
    assert sample_trail.findings().equals(all_findings)


def test_filters(sample_trail: Trail, all_findings: pl.DataFrame) -> None:
    high = sample_trail.findings(severity="high")
    assert set(high["severity"]) == {"critical", "high"}
    assert len(sample_trail.findings(severity="info")) == len(all_findings)
    assert set(sample_trail.findings(account="400000000014")["check"]) == {
        "duration",
        "task_scope",
        "org_changes",
    }
    scoped = sample_trail.findings(check=["orphan", "duration"])
    assert set(scoped["check"]) == {"orphan", "duration"}
    window = sample_trail.findings(since="2026-10-08", until="2026-10-08T23:59:59")
    assert len(window) == 5  # P01, P03, P10, P15, P28
    with pytest.raises(TrailscopeError, match="unknown check"):
        sample_trail.findings(check="nonsense")
    with pytest.raises(TrailscopeError, match="unknown severity"):
        sample_trail.findings(severity="urgent")


# allow-list ---------------------------------------------------------------------------------


def _allow(tmp_path: Path, *entries: dict[str, str]) -> Path:
    path = tmp_path / "allow.json"
    path.write_text(json.dumps({"accept": list(entries)}))
    return path


def test_allow_list_marks_without_hiding(sample_trail: Trail, tmp_path: Path) -> None:
    path = _allow(
        tmp_path,
        {
            "reason": "break-glass drill CHG-7",
            "expires": "2026-10-07",
            "principal": "arn:aws:sts::400000000001:assumed-role/AWSReservedSSO_RootAccessAdmin_*",
            "check": "authorization",
        },
        {
            "reason": "known test account",
            "expires": "2027-01-01T00:00:00Z",
            "account": "5000000000*",
        },
    )
    df = sample_trail.findings(allow_list=path)
    assert len(df) == 22
    accepted = df.filter(pl.col("accepted"))
    assert sorted(zip(accepted["account_id"], accepted["accepted_reason"], strict=True)) == [
        ("400000000001", "break-glass drill CHG-7"),  # P08, 2026-10-05
        ("400000000001", "break-glass drill CHG-7"),  # P09, 2026-10-07 (the whole day)
        ("500000000001", "known test account"),
    ]
    assert df.filter(~pl.col("accepted"))["accepted_reason"].null_count() == 19
    entries = findings.load_allow_list(path)
    assert sample_trail.findings(allow_list=str(path)).equals(
        findings.findings(sample_trail.analysis, allow_list=entries)
    )


def test_the_readmes_allow_list_example_reads_and_accepts(
    sample_trail: Trail, tmp_path: Path
) -> None:
    """The README documents the format with an example: it must be one the tool reads, and
    accept what the README says (every matcher given, up to the end of the expiry day)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Allow-list", 1)[1]
    example = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert example, "the README's Allow-list section has no JSON example"
    path = tmp_path / "approved.json"
    path.write_text(example[1])
    (entry,) = json.loads(example[1])["accept"]
    df = sample_trail.findings(allow_list=path)
    accepted = df.filter(pl.col("accepted"))
    assert len(accepted) > 0 and set(accepted["check"]) == {entry["check"]}
    assert set(accepted["accepted_reason"]) == {entry["reason"]}
    for f in df.filter(pl.col("check") == entry["check"]).iter_rows(named=True):
        matches = fnmatchcase(f["account_id"], entry["account"]) and fnmatchcase(
            f["principal"], entry["principal"]
        )
        assert f["accepted"] == matches, f  # every matcher, globs for account and principal


@pytest.mark.parametrize(
    "content,message",
    [
        ("not json", "cannot read"),
        ('{"accept": {}}', '"accept" list'),
        ('{"accept": [{"reason": "x", "expires": "2026-01-01"}]}', "matches everything"),
        ('{"accept": [{"reason": "x", "check": "orphan"}]}', "needs a reason and an expires"),
        ('{"accept": [{"reason": "x", "expires": "soon", "check": "orphan"}]}', "neither a date"),
        ('{"accept": [{"reason": "x", "expires": "2026-01-01", "acount": "1"}]}', "unknown key"),
    ],
)
def test_bad_allow_lists_are_refused(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "allow.json"
    path.write_text(content)
    with pytest.raises(findings.BadAllowList, match=message):
        findings.load_allow_list(path)


# the command ----------------------------------------------------------------------------------


def test_findings_command(sample_db: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    allow = _allow(
        tmp_path, {"reason": '=HYPERLINK("http://x")', "expires": "2026-12-31", "check": "orphan"}
    )
    r = runner.invoke(
        cli,
        [
            "findings",
            "--db",
            str(sample_db),
            "--format",
            "csv",
            "--severity",
            "high",
            "--allow-list",
            str(allow),
        ],
    )
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))  # warnings go to stderr
    assert tuple(rows[0]) == OUTPUT_COLUMNS
    assert {row["severity"] for row in rows} == {"critical", "high"}
    (orphan,) = [row for row in rows if row["check"] == "orphan"]
    assert orphan["accepted"] == "true"
    assert orphan["accepted_reason"].startswith("'=")  # defused for spreadsheets
    r = runner.invoke(
        cli,
        [
            "findings",
            "--db",
            str(sample_db),
            "--format",
            "json",
            "--check",
            "duration",
            "--account",
            "400000000012",
        ],
    )
    assert r.exit_code == 0, r.output
    assert [row["rule"] for row in json.loads(r.stdout)] == ["expired_key_used"]
    r = runner.invoke(cli, ["findings", "--db", str(sample_db), "--since", "2026-10-09"])
    assert r.exit_code == 0 and "finding_id" in r.stdout and "explanation" not in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[]")
    r = runner.invoke(cli, ["findings", "--db", str(sample_db), "--allow-list", str(bad)])
    assert r.exit_code == 1 and "accept" in r.output and "Traceback" not in r.output


@pytest.fixture(scope="module")
def fixture_findings() -> pl.DataFrame:
    with Trail() as t:
        t.ingest(FIXTURES / "assume_root")
        return t.findings()


def test_findings_of_the_fixture(fixture_findings: pl.DataFrame) -> None:
    df = fixture_findings
    got = sorted(zip(df["check"], df["rule"], df["severity"], strict=True))
    assert got == sorted(
        [
            *[("authorization", "unverifiable_call", "info")] * 13,  # no organization state
            ("authorization", "denied_call", "medium"),
            ("authorization", "root_caller", "medium"),  # refused, as AWS documents
            ("authorization", "root_caller", "high"),  # granted: not what AWS documents
            ("task_scope", "out_of_scope_action", "high"),  # DeleteVirtualMFADevice succeeding
            ("task_scope", "out_of_scope_attempt", "medium"),
            ("task_scope", "denied_in_scope", "low"),
            ("task_scope", "out_of_scope_action", "high"),  # ec2:DescribeRegions
            ("task_scope", "out_of_scope_action", "high"),  # the key in another account
            ("duration", "requested_duration", "high"),
            ("duration", "expiration_beyond_limit", "high"),
            ("duration", "active_beyond_limit", "high"),  # 1000 s
            ("duration", "active_beyond_limit", "high"),  # 908 s, past the clock tolerance
            ("duration", "expiration_unreadable", "info"),
            *[("orphan", "no_assume_root_call", "high")] * 2,  # two key-less sessions
            ("root_outside_assumeroot", "credentials_deleted", "critical"),
            ("root_outside_assumeroot", "failed_attempts", "medium"),  # failed console login
            ("root_outside_assumeroot", "failed_attempts", "medium"),  # PasswordUpdated Failure
            *[("root_outside_assumeroot", "long_term_root_use", "high")] * 4,
        ]
    )
    denied = df.filter(pl.col("rule") == "denied_call").row(0, named=True)
    assert "organization state unknown" in denied["title"]
    assert "cannot tell why" in denied["explanation"]
    unverifiable = df.filter(pl.col("rule") == "unverifiable_call")
    assert all("Cannot be verified" in e for e in unverifiable["explanation"])


# the AWS facts of issue 15, each on the fixture case built for it -------------------------------


def _of(df: pl.DataFrame, account: str) -> list[tuple[str, str, str]]:
    return sorted(
        (r["check"], r["rule"], r["severity"])
        for r in df.rows(named=True)
        if r["account_id"] == account and r["check"] != "authorization"
    )


def test_delete_virtual_mfa_device_is_judged_by_policy_v1_at_any_date(
    fixture_findings: pl.DataFrame,
) -> None:
    """v1 is IAMDeleteRootUserCredentials' only version (IAMTrail/MAMIP): it lists
    DeleteVirtualMFADevice only on the root user, which an MFA device never is. Succeeding in
    2024 is anomalous; denied in 2025 is what the policy makes AWS do."""
    assert _of(fixture_findings, MAKE.TARGETS["mfa_2024"]) == [
        ("task_scope", "out_of_scope_action", "high")
    ]
    (row,) = fixture_findings.filter(pl.col("account_id") == MAKE.TARGETS["mfa_2024"]).rows(
        named=True
    )
    assert "which the resource of this action never is" in row["explanation"]
    assert _of(fixture_findings, MAKE.TARGETS["mfa_denied"]) == []


def test_a_call_logged_within_the_clock_tolerance_is_no_breach(
    fixture_findings: pl.DataFrame,
) -> None:
    """eventTime is when a request completed: a call logged a few seconds past expiry was made
    before it, and one refused for another reason (throttled at 904 s) is no expired key."""
    assert _of(fixture_findings, MAKE.TARGETS["tolerance"]) == []  # 903 s, and refused at 904 s
    assert _of(fixture_findings, MAKE.TARGETS["late"]) == [
        ("duration", "active_beyond_limit", "high")  # 908 s
    ]


def test_root_credentials_calling_assume_root_are_their_own_finding(
    fixture_findings: pl.DataFrame,
) -> None:
    calls = fixture_findings.filter(pl.col("rule") == "root_caller")
    assert sorted(calls["severity"]) == ["high", "medium"]
    for row in calls.rows(named=True):
        assert "Root user credentials cannot call AssumeRoot" in row["explanation"]
        assert row["principal"] == f"arn:aws:iam::{MAKE.CALLER}:root"


def test_key_less_orphan_events_are_not_one_session(fixture_findings: pl.DataFrame) -> None:
    orphans = fixture_findings.filter(pl.col("account_id") == MAKE.TARGETS["keyless"])
    assert sorted(orphans["session_id"]) == [
        f"no-key/{MAKE.TARGETS['keyless']}/2025-07-20T08:00:00Z",
        f"no-key/{MAKE.TARGETS['keyless']}/2025-07-20T10:00:00Z",
    ]
    assert set(orphans["check"]) == {"orphan"}  # no duration finding across two hours


def test_a_failed_password_change_is_a_failed_attempt(fixture_findings: pl.DataFrame) -> None:
    (only,) = fixture_findings.filter(pl.col("account_id") == MAKE.TARGETS["password_only"]).rows(
        named=True
    )
    assert (only["rule"], "(0 succeeded)" in only["explanation"]) == ("failed_attempts", True)
    (mixed,) = fixture_findings.filter(pl.col("account_id") == MAKE.TARGETS["password"]).rows(
        named=True
    )
    assert "made 3 call(s) (2 succeeded)" in mixed["explanation"]


def test_a_root_key_left_after_the_password_is_deleted_is_not_called_impossible(
    fixture_findings: pl.DataFrame,
) -> None:
    (row,) = fixture_findings.filter(
        (pl.col("account_id") == MAKE.TARGETS["keyleft"])
        & (pl.col("check") == "root_outside_assumeroot")
    ).rows(named=True)
    assert (row["rule"], row["severity"]) == ("long_term_root_use", "high")
    assert "deleting the password leaves root access keys working" in row["explanation"]
    assert "nobody should be able" not in row["explanation"]


def test_a_key_is_judged_where_and_when_it_was_issued(fixture_findings: pl.DataFrame) -> None:
    """A session's key logged in another account than the target was counted as the target
    session's call, in scope; a key two AssumeRoot responses carry was judged by the first
    issue, two high findings (active 7,260 s, S3 outside an audit task) against its caller
    where the second issue's S3 session explains the call."""
    (row,) = fixture_findings.filter(
        (pl.col("account_id") == MAKE.TARGETS["elsewhere"]) & (pl.col("check") == "task_scope")
    ).rows(named=True)
    assert row["rule"] == "out_of_scope_action"
    assert "(out of scope: not the target account, succeeded)" in row["explanation"]
    assert "logged in another account" in row["explanation"]
    assert _of(fixture_findings, MAKE.TARGETS["twice"]) == []

"""The organization's access state over time (issue 3): the org query modules over the
tests/fixtures/org_state organization; and who may change it (issue 15): the organization-change
check and the facts it rests on, over tests/fixtures/org_checks and the sample organization."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES, load_module, module_result
from trailscope import findings, organization
from trailscope.analysis import load_queries
from trailscope.cli import cli
from trailscope.trail import Trail

HERE = FIXTURES / "org_state"
LOGS = HERE / "AWSLogs"
# the four asked for by name, then the modules they compose (each named in another's inputs)
MODULES = (
    "org_state_changes",
    "org_state_intervals",
    "org_state_at",
    "organization_identity",
    "org_events",
    "org_trail_members",
    "org_management_evidence",
    "org_management_account",
    "org_state_calls",
    "org_state_evidence",
    "check_org_changes",
)
PARAMS: dict[str, dict[str, Any]] = {
    "org_state_at": {"at": "2024-11-20T09:30:00Z"},
    "organization_identity": {"management_account": "", "organization_id": ""},
}
FIRST, LAST = "2024-11-18 08:55:12+00:00", "2024-11-22 00:10:00+00:00"


MAKE = load_module(HERE / "make.py")


def event(label: str) -> str:
    """The eventID make.py gives the record with this label."""
    return str(uuid.uuid5(MAKE.NAMESPACE, label))


@pytest.fixture(scope="module")
def trail() -> Iterator[Trail]:
    with Trail() as t:
        s = t.ingest(LOGS)
        # two events are delivered by two trails each: stored once, both copies kept
        assert (s.ok, s.files_read, s.stored, s.duplicates) == (True, 36, 39, 2)
        yield t


def _rows(df: pl.DataFrame, **where: Any) -> list[dict[str, Any]]:
    return [r for r in df.rows(named=True) if all(r[k] == v for k, v in where.items())]


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_fixture_files_are_what_make_py_writes() -> None:
    written = {p.relative_to(HERE).as_posix(): p.read_bytes() for p in LOGS.rglob("*.json.gz")}
    assert written == MAKE.deliveries(), "run python tests/fixtures/org_state/make.py"


@pytest.mark.parametrize("name", MODULES)
def test_golden(trail: Trail, golden: Callable[[str, str], None], name: str) -> None:
    """Each module's rows; a check module's as its findings (see trailscope.findings)."""
    df = module_result(trail, name, PARAMS.get(name, {}))
    if name.startswith(findings.CHECK_PREFIX):
        df = findings.raised(trail.analysis, name.removeprefix(findings.CHECK_PREFIX))
    golden(f"queries/{name}.csv", df.write_csv())


@pytest.mark.parametrize("name", MODULES)
def test_columns_equal_outputs_on_an_empty_database(name: str) -> None:
    df = module_result(None, name, PARAMS.get(name, {}))
    if name == "org_state_at":  # the root access features and IAM's trusted access, unknown
        assert df.select("kind", "subject", "state", "known").rows() == [
            ("root_feature", "RootCredentialsManagement", "unknown", False),
            ("root_feature", "RootSessions", "unknown", False),
            ("trusted_access", "iam.amazonaws.com", "unknown", False),
        ]
    else:
        assert df.is_empty()


def test_only_org_events_reads_the_json_columns() -> None:
    """DuckDB's JSON path operators stay in one module (the others must run on Spark too)."""
    queries = load_queries()
    using = [
        n
        for n in MODULES
        if "->" in re.sub(r"/\*.*?\*/|--[^\n]*", "", queries[n].sql, flags=re.DOTALL)
    ]
    assert using == ["org_events"]


def test_the_modules_compose_without_losing_rows(trail: Trail) -> None:
    events = trail.query("org_events")
    calls = trail.query("org_state_calls")
    assert set(calls["event_id"]) == set(
        events.filter(events["event_name"] != "DescribeOrganization")["event_id"]
    )
    assert calls["event_id"].is_unique().all()
    evidence = trail.query("org_management_evidence")
    first = event("disable config directly")
    assert trail.query("org_management_account").rows() == [
        ("111111111111", len(evidence), first, True)
    ]
    (interval,) = _rows(trail.query("org_state_intervals"), kind="management_account")
    assert (interval["account_id"], interval["known"], interval["evidence_event_ids"]) == (
        "111111111111",
        True,
        first,
    )
    members = trail.query("org_trail_members")
    assert set(members["organization_id"]) == {"o-7h2k9x4m1q"}


def test_a_disable_with_no_enable_before_it_has_an_unknown_start(trail: Trail) -> None:
    config = _rows(trail.query("org_state_intervals"), subject="config.amazonaws.com")
    assert [
        (
            str(r["start_time"]),
            str(r["end_time"]),
            r["state"],
            r["start_observed"],
            r["end_observed"],
            r["known"],
        )
        for r in config
    ] == [
        (FIRST, "2024-11-18 09:10:03+00:00", "enabled", False, True, False),
        ("2024-11-18 09:10:03+00:00", LAST, "disabled", True, False, True),
    ]
    assert config[0]["actor"] is None  # nobody is seen enabling it
    assert config[0]["evidence_event_ids"] == event("disable config directly")

    def config_at(at: str) -> tuple[Any, ...]:
        (row,) = _rows(trail.query("org_state_at", at=at), subject="config.amazonaws.com")
        return row["active"], row["state"], row["known"]

    assert config_at("2024-11-18T09:00:00Z") == (True, "enabled", False)  # inferred
    assert config_at("2024-11-18T09:10:03Z") == (False, "disabled", True)
    assert config_at("2024-11-18T08:00:00Z") == (None, "unknown", False)  # before the logs
    assert config_at("2024-11-23T00:00:00Z") == (None, "unknown", False)  # after them
    assert config_at(LAST) == (False, "disabled", True)  # the last moment still counts


def test_a_state_seen_only_in_a_response_has_an_unknown_start(trail: Trail) -> None:
    sessions = _rows(trail.query("org_state_intervals"), subject="RootSessions")
    first = sessions[0]
    assert (
        str(first["start_time"]),
        first["state"],
        first["start_observed"],
        first["known"],
        first["start_action"],
    ) == (FIRST, "disabled", False, False, "EnableOrganizationsRootCredentialsManagement response")
    assert [r["state"] for r in sessions] == ["disabled", "enabled", "disabled", "enabled"]
    assert all(r["known"] for r in sessions[1:])


def test_the_management_account_is_revealed_and_a_stated_one_contradicted(trail: Trail) -> None:
    plain = organization.identity(trail.analysis)
    assert set(plain["verdict"]) == {"observed"}
    assert set(_rows(plain, fact="management_account")[0].values()) >= {"111111111111"}
    assert {r["value"] for r in _rows(plain, fact="organization_id")} == {"o-7h2k9x4m1q"}
    stated = organization.identity(
        trail.analysis, management_account="222222222222", organization_id="o-7h2k9x4m1q"
    )
    user = {r["fact"]: r["verdict"] for r in _rows(stated, source="stated by the user")}
    assert user == {
        "management_account": "contradicted by the logs",
        "organization_id": "confirmed by the logs",
    }
    assert {
        r["verdict"] for r in _rows(stated, fact="management_account", value="111111111111")
    } == {"contradicts the stated value"}
    assert {r["source"] for r in _rows(stated, fact="management_account")} == {
        "management-only call succeeded",
        "handshake ARN",
        "DescribeOrganization response",
        "stated by the user",
    }


def test_findings(trail: Trail) -> None:
    changes = trail.query("org_state_changes")
    by_id = {r["event_id"]: r for r in changes.rows(named=True)}
    bypass = (
        "disabled through Organizations directly, not by the service: the service could "
        "not clean up"
    )
    outside = "caller is outside the management account"
    deregister = (
        "only the management account, or for IAM the delegated administrator itself, may deregister"
    )
    expect = {
        "disable config directly": ("succeeded", True, bypass),
        "disable security hub by the service": ("succeeded", True, None),
        "rogue registers itself": ("failed", False, outside),
        "rogue enables ram": ("failed", False, outside),
        "dev deregisters sec": ("failed", False, deregister),
        "sec deregisters itself": ("succeeded", True, None),
        "enable iam trusted access, conflict": ("failed", True, None),
        "777 deletes organizations role": (
            "succeeded",
            None,
            "AWSServiceRoleForOrganizations deleted",
        ),
        "organizations role recreated": (
            "succeeded",
            None,
            "AWSServiceRoleForOrganizations recreated",
        ),
        "organizations role in 777": ("succeeded", None, None),
        "666 leaves": ("succeeded", True, None),
    }
    got = {
        label: (
            by_id[event(label)]["outcome"],
            by_id[event(label)]["caller_allowed"],
            by_id[event(label)]["finding"],
        )
        for label in expect
    }
    assert got == expect
    assert [r["error_code"] for r in _rows(changes, event_id=event("rogue registers itself"))] == [
        "AccessDeniedException"
    ]
    flagged = {r["event_id"] for r in changes.rows(named=True) if r["finding"]}
    assert flagged == {event(label) for label, (_, _, f) in expect.items() if f}


def test_no_violation_rests_on_an_unknown_management_account(tmp_path: Path) -> None:
    """With only the rogue member's logs, nothing shows who the management account is: its
    denied calls are evidence, but not violations."""
    with Trail() as t:
        t.ingest(LOGS / "o-7h2k9x4m1q" / "555555555555")
        changes = t.query("org_state_changes")
        assert len(changes) == 2
        assert changes["outcome"].to_list() == ["failed", "failed"]
        assert changes["caller_allowed"].to_list() == [None, None]
        assert changes["finding"].to_list() == [None, None]
        assert t.query("org_management_account").is_empty()
        state = t.state_at("2024-11-18T12:00:00Z")
        assert state["management_account"].is_empty()
        assert _rows(state["membership"], account_id="555555555555")[0]["known"] is False
        stated = organization.identity(t.analysis, management_account="111111111111")
        assert _rows(stated, source="stated by the user")[0]["verdict"] == "not seen in the logs"


def test_state_at_agrees_with_the_intervals(trail: Trail) -> None:
    """At every boundary, just before it and between: each known-or-inferred row of
    org_state_at is the one interval that covers the moment, and unknown rows have none."""
    intervals = trail.query("org_state_intervals")
    last = intervals["end_time"].max()
    times = sorted(set(intervals["start_time"]) | set(intervals["end_time"]))
    moments = {t + d for t in times for d in (timedelta(0), timedelta(seconds=-1))}
    moments |= {a + (b - a) / 2 for a, b in pairwise(times)}
    for at in sorted(moments):
        for row in trail.query("org_state_at", at=at).rows(named=True):
            covering = [
                i
                for i in _rows(
                    intervals,
                    kind=row["kind"],
                    subject=row["subject"],
                    account_id=row["account_id"],
                )
                if i["start_time"] <= at
                and (at < i["end_time"] or (at == i["end_time"] and i["end_action"] is None))
            ]
            if row["state"] == "unknown":
                assert covering == [], (at, row)
            else:
                assert len(covering) == 1, (at, row)
                assert (row["state"], row["known"]) == (covering[0]["state"], covering[0]["known"])
        assert at <= last or all(
            r["state"] == "unknown" for r in trail.query("org_state_at", at=at).rows(named=True)
        )


def test_state_at_from_the_library(trail: Trail) -> None:
    state = trail.state_at(datetime(2024, 11, 20, 9, 30))  # naive: UTC
    assert tuple(state) == organization.KINDS
    again = organization.state_at(trail.analysis, _ts("2024-11-20T10:30:00+01:00"))
    assert all(state[kind].equals(again[kind]) for kind in organization.KINDS)
    (iam,) = _rows(state["delegated_admin"], subject="iam.amazonaws.com")
    assert (iam["account_id"], iam["state"], iam["known"]) == (
        "222222222222",
        "not registered",
        True,
    )  # between its self-deregistration and return
    (sessions,) = _rows(state["root_feature"], subject="RootSessions")
    assert (sessions["state"], sessions["known"]) == ("enabled", True)
    assert {r["account_id"] for r in _rows(state["membership"], state="member")} == {
        "111111111111",
        "222222222222",
        "333333333333",
        "444444444444",
        "555555555555",
        "777777777777",
    }


def test_cli_takes_the_params_as_text(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with Trail(db) as t:
        t.ingest(LOGS)
    runner = CliRunner()
    at = runner.invoke(
        cli,
        [
            "query",
            "org_state_at",
            "--db",
            str(db),
            "--format",
            "csv",
            "--param",
            "at=2024-11-20T09:30:00Z",
        ],
    )
    assert at.exit_code == 0, at.output
    assert "RootSessions" in at.output
    who = runner.invoke(
        cli,
        [
            "query",
            "organization_identity",
            "--db",
            str(db),
            "--format",
            "csv",
            "--param",
            "management_account=",
            "--param",
            "organization_id=o-0000000000",
        ],
    )
    assert who.exit_code == 0, who.output
    assert "contradicted by the logs" in who.output


# who may change the organization (issue 15): tests/fixtures/org_checks ------------------------

CHECKS_HERE = FIXTURES / "org_checks"
CHECKS_MAKE = load_module(CHECKS_HERE / "make.py")


@pytest.fixture(scope="module")
def checks_trail() -> Iterator[Trail]:
    with Trail() as t:
        s = t.ingest(CHECKS_HERE / "AWSLogs")
        assert (s.ok, s.stored) == (True, 14)
        yield t


def test_org_checks_files_are_what_make_py_writes() -> None:
    written = {
        p.relative_to(CHECKS_HERE).as_posix(): p.read_bytes()
        for p in (CHECKS_HERE / "AWSLogs").rglob("*.json.gz")
    }
    assert written == CHECKS_MAKE.deliveries(), "run python tests/fixtures/org_checks/make.py"


def _change(trail: Trail, label: str) -> dict[str, Any]:
    (row,) = _rows(trail.query("org_state_changes"), event_id=CHECKS_MAKE.event_id(label))
    return row


def test_a_refused_enable_by_the_delegated_administrator_is_not_allowed(
    checks_trail: Trail,
) -> None:
    """AWS answers CallerIsNotManagementAccount to an Enable root access feature call from any
    account but the management account (IAM API reference): its own answer settles it, even
    for the registered IAM delegated administrator."""
    refused = _change(checks_trail, "sec enables root credentials management")
    assert (refused["outcome"], refused["caller_allowed"], refused["concern"]) == (
        "failed",
        False,
        "caller_not_allowed",
    )
    assert _change(checks_trail, "sec disables root sessions")["caller_allowed"] is True


def test_close_account_by_a_delegated_administrator_names_no_management_account(
    checks_trail: Trail,
) -> None:
    assert checks_trail.query("org_management_account").select("account_id", "known").rows() == [
        ("111111111111", True)
    ]
    closed = _change(checks_trail, "sec closes an account")
    assert (closed["outcome"], closed["caller_allowed"], closed["concern"]) == (
        "succeeded",
        None,
        None,
    )


def test_an_account_that_left_is_no_member_after_its_leave(checks_trail: Trail) -> None:
    """The organization trail delivers the LeaveOrganization record itself: the account was a
    member when it called, not after."""
    state = organization.state_at(checks_trail.analysis, "2025-03-10T13:00:00Z")
    (leaver,) = _rows(state["membership"], account_id=CHECKS_MAKE.LEAVER)
    assert (leaver["state"], leaver["known"]) == ("not member", True)
    before = organization.state_at(checks_trail.analysis, "2025-03-10T11:59:59Z")
    assert _rows(before["membership"], account_id=CHECKS_MAKE.LEAVER)[0]["state"] == "member"


def test_the_feature_each_task_needs(checks_trail: Trail) -> None:
    """Root sessions are off, root credentials management on (IAM User Guide, "Centralize root
    access"): deleting root credentials is fine, the privileged tasks are judged on what the
    logs show, never called unauthorized when AWS granted them."""
    found = {r["evidence_event_ids"]: r for r in checks_trail.findings().rows(named=True)}
    assert CHECKS_MAKE.event_id("delete credentials") not in found
    granted = found[CHECKS_MAKE.event_id("unlock bucket")]
    assert (granted["rule"], granted["severity"]) == ("granted_while_disabled", "low")
    assert "no evidence the caller was not allowed" in granted["explanation"]
    assert "unauthorized" not in (granted["title"] + granted["explanation"]).lower()
    denied = found[CHECKS_MAKE.event_id("unlock queue, denied")]
    assert denied["rule"] == "denied_call"
    assert "which AWS ties to SQSUnlockQueuePolicy, were not enabled" in denied["title"]


def test_organization_changes_a_responder_should_see(checks_trail: Trail) -> None:
    found = checks_trail.findings(check="org_changes")
    assert sorted(
        zip(found["evidence_event_ids"], found["rule"], found["severity"], strict=True)
    ) == sorted(
        [
            (
                CHECKS_MAKE.event_id("sec enables root credentials management"),
                "refused_change",
                "medium",
            ),
            (CHECKS_MAKE.event_id("dev registers itself"), "refused_change", "medium"),
        ]
    )
    (mine,) = _rows(found, account_id=CHECKS_MAKE.DEV)
    assert "The logs name 111111111111 as the management account" in mine["explanation"]
    assert mine["context_event_ids"] == CHECKS_MAKE.event_id("enable iam trusted access")


def test_refused_changes_with_the_management_account_unknown_are_low(tmp_path: Path) -> None:
    """Only the rogue member's logs: who the management account is, is unknown, so its refused
    calls are low findings that say so, never medium accusations."""
    with Trail() as t:
        t.ingest(LOGS / "o-7h2k9x4m1q" / "555555555555")
        found = t.findings(check="org_changes")
    assert sorted(found["severity"]) == ["low", "low"]
    assert all("name no management account" in e for e in found["explanation"])


@pytest.mark.parametrize(
    ("deregistered", "verdict"),
    [
        ("2025-03-10T10:05:00Z", "unknown"),  # the second of the call
        ("2025-03-10T10:04:59Z", "unknown"),  # a second before it, on another host's clock
        ("2025-03-10T10:00:10Z", "unauthorized_call"),  # five minutes before it
    ],
)
def test_a_change_within_seconds_of_a_call_cannot_make_it_unauthorized(
    tmp_path: Path, deregistered: str, verdict: str
) -> None:
    """The org_checks day with the IAM delegated administrator deregistered near its granted
    10:05:00 S3 unlock: eventTimes are to the second, each on its serving host's clock, so a
    change logged within the clock tolerance (5 s) may have come after the call. It was a high
    unauthorized_call; it is unknown (still low for the root sessions seen disabled)."""
    records = [r for r, _, _ in CHECKS_MAKE.EVENTS]
    records.append(
        MAKE.record(
            "deregister sec",
            deregistered,
            CHECKS_MAKE.ORGS,
            "DeregisterDelegatedAdministrator",
            CHECKS_MAKE.ADMIN,
            account=CHECKS_MAKE.MGMT,
            request={"accountId": CHECKS_MAKE.SEC, "servicePrincipal": CHECKS_MAKE.IAM},
        )
    )
    for path, data in MAKE.deliveries([(r, ("org",), 5) for r in records], CHECKS_MAKE.ORG).items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(data)
    with Trail() as t:
        t.ingest(tmp_path)
        found = t.findings(check="authorization", since="2025-03-10T10:05:00Z")
    (call,) = found.filter(pl.col("event_time") == _ts("2025-03-10T10:05:00Z")).rows(named=True)
    if verdict == "unknown":
        assert (call["rule"], call["severity"]) == ("granted_while_disabled", "low")
        assert "delegated administrator" not in call["title"]
    else:
        assert (call["rule"], call["severity"]) == ("unauthorized_call", "high")
        assert "was not the registered IAM delegated administrator" in call["title"]


def test_the_sample_organization(sample_trail: Trail) -> None:
    """acme-contractor left on 2026-10-09 (P23); acme-security closed acme-sandbox (N13) and
    acme-management is still the one management account."""
    end = organization.state_at(sample_trail.analysis, "2026-10-09T22:00:00Z")
    members = {r["account_id"]: r["state"] for r in end["membership"].rows(named=True)}
    assert (members["400000000017"], members["400000000015"]) == ("not member", "not member")
    assert sample_trail.query("org_management_account").select("account_id", "known").rows() == [
        ("400000000001", True)
    ]

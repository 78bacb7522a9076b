"""AssumeRoot sessions (issue 4): the session modules over the sample organization and the
hand-made tests/fixtures/assume_root files, and the modules generated from task_policies.json."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest

from tests.conftest import FIXTURES, ROOT, load_module, module_result
from trailscope import findings, sessions
from trailscope.analysis import load_queries
from trailscope.synthetic import PLANTED
from trailscope.trail import Trail

HERE = FIXTURES / "assume_root"
CASES = {c.case_id: c for c in PLANTED}
P04_SESSION = CASES["P04"].event_ids[0]
MODULES = (
    "assume_root_calls",
    "root_session_events",
    "assume_root_sessions",
    "assume_root_session_timeline",
    "root_long_term_activity",
    "root_credential_changes",
    "root_credentials",
    "task_policy_actions",
    "task_event_actions",
    "check_duration",
    "check_task_scope",
    "check_authorization",
    "check_orphan",
    "check_root_outside_assumeroot",
)
PARAMS: dict[str, dict[str, Any]] = {"assume_root_session_timeline": {"session_id": P04_SESSION}}


MAKE = load_module(HERE / "make.py")


@pytest.fixture(scope="module")
def fixture_trail() -> Iterator[Trail]:
    with Trail() as t:
        summary = t.ingest(HERE)
        assert (summary.ok, summary.stored) == (True, 55)
        yield t


def _rows(df: pl.DataFrame, **where: Any) -> list[dict[str, Any]]:
    return [r for r in df.rows(named=True) if all(r[k] == v for k, v in where.items())]


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# the modules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODULES)
def test_golden_over_the_sample(
    sample_trail: Trail, golden: Callable[[str, str], None], name: str
) -> None:
    """Each module's rows; a check module's as its findings (the columns every finding shares
    added, see trailscope.findings)."""
    df = module_result(sample_trail, name, PARAMS.get(name, {}))
    if name.startswith(findings.CHECK_PREFIX):
        df = findings.raised(sample_trail.analysis, name.removeprefix(findings.CHECK_PREFIX))
    golden(f"queries/{name}.csv", df.write_csv())


@pytest.mark.parametrize("name", MODULES)
def test_columns_equal_outputs_on_an_empty_database(name: str) -> None:
    df = module_result(None, name, PARAMS.get(name, {}))
    assert df.is_empty() == (name not in ("task_policy_actions", "task_event_actions"))


def test_generated_policy_modules_match_task_policies_json(request: pytest.FixtureRequest) -> None:
    if request.config.getoption("--update-golden"):
        sessions.write_policy_modules(ROOT / "queries")
    for name, text in sessions.policy_modules().items():
        path = ROOT / "queries" / f"{name}.sql"
        assert path.read_text(encoding="utf-8") == text, (
            f"{path} is stale: run python -m trailscope.sessions"
        )


def test_policy_modules_hold_the_json(sample_trail: Trail) -> None:
    data = sessions.load_task_policies()
    policies = sample_trail.query("task_policy_actions")
    for arn, policy in data["policies"].items():
        current = _rows(policies, policy_arn=arn, allowed_until=None)
        assert sorted(r["action"] for r in current) == sorted(policy["actions"])
    # every task policy is still v1 (IAMTrail/MAMIP): no action is bounded by a date
    assert policies.filter(
        pl.col("allowed_from").is_not_null() | pl.col("allowed_until").is_not_null()
    ).is_empty()
    (mfa,) = _rows(policies, action="iam:DeleteVirtualMFADevice")
    assert (mfa["policy_name"], mfa["denied_in_practice"]) == ("IAMDeleteRootUserCredentials", True)
    assert policies.filter(pl.col("denied_in_practice")).height == 1
    features = dict(zip(policies["policy_name"], policies["feature"], strict=True))
    assert features == {
        "IAMAuditRootUserCredentials": None,
        "IAMCreateRootUserPassword": "RootSessions",
        "IAMDeleteRootUserCredentials": "RootCredentialsManagement",
        "S3UnlockBucketPolicy": "RootSessions",
        "SQSUnlockQueuePolicy": "RootSessions",
    }
    actions = sample_trail.query("task_event_actions")
    assert len(actions) == len(data["event_actions"])
    assert _rows(actions, event_name="ListBuckets")[0]["action"] == "s3:ListAllMyBuckets"
    assert _rows(actions, event_name="ConsoleLogin")[0]["action"] is None


def test_every_fact_says_its_source_and_whether_it_is_confirmed() -> None:
    """task_policies.json (issue 15): each fact the checks rest on carries `source` (a list of
    AWS pages or archived IAM output) and `confirmed`."""
    data = sessions.load_task_policies()

    def fact(where: str, f: dict[str, Any]) -> None:
        assert isinstance(f.get("confirmed"), bool), where
        source = f.get("source")
        assert source and (isinstance(source, str) or all(source)), where

    facts = [(f"assume_root.{k}", v) for k, v in data["assume_root"].items()]
    facts += [
        (f"reference_corrections[{i}]", f) for i, f in enumerate(data["reference_corrections"])
    ]
    facts += [(f"notes[{i}]", f) for i, f in enumerate(data["notes"])]
    for arn, policy in data["policies"].items():
        facts += [(arn, policy), (f"{arn} version", policy["version"])]
        facts += [(f"{arn} feature", policy["feature"])]
        facts += [(f"{arn} {k}", v) for k, v in policy.get("denied_in_practice", {}).items()]
        facts += [(f"{arn} doc", f) for f in policy.get("documentation_history", [])]
    assert len(facts) > 40
    for where, f in facts:
        fact(where, f)
    versions = {p["name"]: p["version"]["value"][:2] for p in data["policies"].values()}
    assert set(versions.values()) == {"v1"}  # no task policy has a v2 (IAMTrail, MAMIP)


# sessions of the sample organization -----------------------------------------------------------


def test_one_row_per_call_failed_ones_too_and_the_orphan(sample_trail: Trail) -> None:
    df = sample_trail.sessions()
    assert df.columns == list(load_queries()["assume_root_sessions"].outputs)
    calls = df.filter(pl.col("session_kind") == "assume_root")
    assert len(calls) == 26  # the README's table of AssumeRoot calls
    assert sorted(calls.filter(pl.col("outcome") == "failed")["error_code"].to_list()) == [
        *["AccessDenied"] * 5,  # P07-P10, and P25 by root credentials
        "Throttling",
        "ValidationError",
    ]
    orphan, late = _rows(df, session_kind="orphan")  # P12, and P27 after the caller logs end
    assert (
        orphan["session_id"],
        orphan["target_account_id"],
        orphan["events"],
        orphan["caller_arn"],
    ) == ("ASIAP3YNZBADRG5FVBVE", "400000000011", 3, None)
    assert orphan["issued_at"] == _utc("2026-10-07 12:58:03")  # its creationDate
    assert (late["target_account_id"], late["events"]) == ("400000000012", 2)


def test_calls_are_read_whatever_their_form(sample_trail: Trail) -> None:
    calls = sample_trail.query("assume_root_calls")
    (p09,) = _rows(calls, session_id=CASES["P09"].event_ids[0])
    assert (p09["target_principal"], p09["target_account_id"]) == (
        "arn:aws:iam::400000000001:root",
        "400000000001",
    )
    (p01,) = _rows(calls, session_id=CASES["P01"].event_ids[0])
    assert (p01["requested_duration"], p01["duration_seconds"], p01["access_key_id"]) == (
        3600,
        3600,
        None,
    )
    (n10,) = _rows(calls, session_id=CASES["N10"].event_ids[0])
    assert (n10["requested_duration"], n10["call_region"]) == (600, "ap-southeast-2")
    assert n10["expires_at"] == _utc("2026-10-08 09:10:08")  # issue + 600 s
    # a U+202F before PM (acme-security's 2026-10-09 calls) reads like a plain space
    (p06,) = _rows(calls, session_id=CASES["P06"].event_ids[0])
    assert "\u202f" in p06["expiration_text"]
    assert p06["expires_at"] == _utc("2026-10-09 12:15:31")
    issued = calls.filter(pl.col("outcome") == "issued")
    assert issued["expires_at"].null_count() == 0
    assert (issued["task_policy"] == "ExampleUnlistedRootTask").sum() == 1


def test_sessions_span_regions_and_late_deliveries(sample_trail: Trail) -> None:
    by_id = {r["session_id"]: r for r in sample_trail.sessions().rows(named=True)}
    n05 = by_id[CASES["N05"].event_ids[0]]  # console: ConsoleLogin in eu-west-1, IAM global
    assert (n05["regions"], n05["events"], n05["out_of_scope_events"]) == (
        "eu-west-1,us-east-1",
        3,
        0,
    )
    n08 = by_id[CASES["N08"].event_ids[0]]  # its AssumeRoot arrived 70 minutes late
    assert (n08["events"], n08["regions"]) == (2, "eu-west-1")
    n10 = by_id[CASES["N10"].event_ids[0]]
    assert (n10["call_region"], n10["regions"], n10["events"]) == (
        "ap-southeast-2",
        "ap-southeast-2",
        2,
    )
    retried = [by_id[i] for i in CASES["N09"].event_ids[:2]]
    assert [(r["outcome"], r["events"]) for r in retried] == [("failed", 0), ("issued", 3)]
    n01 = by_id[CASES["N01"].event_ids[0]]
    assert (n01["active_seconds"], n01["after_expiry_events"]) == (899, 0)


def test_every_root_session_event_is_linked_once(sample_trail: Trail) -> None:
    events = sample_trail.query("root_session_events")
    assert events["event_id"].is_unique().all()
    planted = {e for c in PLANTED if c.check != "root_outside_assumeroot" for e in c.event_ids[1:]}
    roots = set(
        sample_trail.sql("select event_id from events where identity_type = 'Root'")["event_id"]
    )
    assert planted & roots <= set(events["event_id"])
    n05_login = CASES["N05"].event_ids[1]
    assert _rows(events, event_id=n05_login)[0]["scope"] == "session bookkeeping"


def test_timeline_by_call_or_key(sample_trail: Trail) -> None:
    timeline = sample_trail.session_timeline(P04_SESSION)
    assert timeline["event_id"].to_list() == list(CASES["P04"].event_ids)
    assert timeline["scope"].to_list() == ["issuing call", "in scope", "in scope", "out of scope"]
    assert timeline["seq"].to_list() == [1, 2, 3, 4]
    key = _rows(sample_trail.sessions(), session_id=P04_SESSION)[0]["access_key_id"]
    assert sample_trail.session_timeline(key).equals(timeline)
    orphan = sample_trail.session_timeline("ASIAP3YNZBADRG5FVBVE")
    assert orphan["event_id"].to_list() == list(CASES["P12"].event_ids)
    with pytest.raises(sessions.UnknownSession):
        sample_trail.session_timeline("no-such-session")


def test_session_filters(sample_trail: Trail) -> None:
    staging = sample_trail.sessions(account="400000000012")
    assert set(staging["target_account_id"]) == {"400000000012"}
    assert len(staging) == 7  # P02, P07 (refused), N08, N05, P25 (refused), N12, P27
    day = sample_trail.sessions(since="2026-10-09", until="2026-10-09T12:00:31Z")
    assert len(day) == 4


# long-term root use and the credentials lifecycle --------------------------------------------


def test_root_sessions_never_count_as_long_term_root_use(sample_trail: Trail) -> None:
    activity = sample_trail.query("root_long_term_activity")
    long_term = set(activity["event_id"])
    expected = {e for c in ("P13", "P14", "P15", "P25") for e in CASES[c].event_ids}
    assert long_term == expected
    assert [r["credential"] for r in _rows(activity, account_id="400000000013")] == [
        "access key"
    ] * 4  # P14, and P25's AssumeRoot with the same key
    assert {r["episode_id"] for r in _rows(activity, account_id="400000000015")} == {
        "400000000015/2026-10-08T17:31:02Z"
    }


def test_credentials_lifecycle_and_deleted_since(sample_trail: Trail) -> None:
    changes = sample_trail.query("root_credential_changes")
    sandbox = _rows(changes, account_id="400000000015")
    assert [(r["credential"], r["change"], r["made_by"]) for r in sandbox] == [
        ("access key", "deleted", "AssumeRoot session"),
        ("password", "deleted", "AssumeRoot session"),
        ("MFA device", "deactivated", "AssumeRoot session"),
        ("signing certificate", "deleted", "AssumeRoot session"),
        ("password", "recovered", "long-term root"),
        ("access key", "created", "long-term root"),
    ]
    deleted = _utc("2026-10-06 09:41:33")
    assert [r["deleted_since"] for r in sandbox] == [None] + [deleted] * 5
    state = {r["account_id"]: r for r in sample_trail.query("root_credentials").rows(named=True)}
    assert (
        state["400000000015"]["state"],
        state["400000000015"]["deleted_since"],
        state["400000000015"]["long_term_use_after"],
    ) == ("deleted centrally", deleted, 4)
    assert state["400000000015"]["deleted_by_session"] == CASES["N02"].event_ids[0]
    assert state["400000000013"]["state"] == "changed"  # password created, a key deleted


# the hand-made fixture --------------------------------------------------------------------------


def test_fixture_files_are_what_make_py_writes() -> None:
    written = {p.name: p.read_text(encoding="utf-8") for p in HERE.glob("*.json")}
    assert written == MAKE.files(), "run python tests/fixtures/assume_root/make.py"


def test_delete_virtual_mfa_device_is_denied_in_practice_at_any_date(
    fixture_trail: Trail,
) -> None:
    """IAMDeleteRootUserCredentials v1 lists DeleteVirtualMFADevice only on the root user,
    which an MFA device's ARN never is; the IAM User Guide's 2025-01-07 change was to its
    documentation only (no v2 exists), so no date cut-off applies."""
    events = fixture_trail.query("root_session_events")
    scope = {r["event_id"]: (r["scope"], r["outcome"]) for r in events.rows(named=True)}
    assert scope[MAKE.event_id("mfa_2024 2 DeleteVirtualMFADevice")] == (
        "denied in practice",
        "succeeded",
    )
    assert scope[MAKE.event_id("mfa_denied 2 DeleteVirtualMFADevice")] == (
        "denied in practice",
        "failed",
    )
    assert scope[MAKE.event_id("mfa_denied 1 DeactivateMFADevice")] == ("in scope", "succeeded")
    sessions = {r["session_id"]: r for r in fixture_trail.sessions().rows(named=True)}
    assert sessions[MAKE.event_id("mfa_2024")]["out_of_scope_events"] == 1
    assert sessions[MAKE.event_id("mfa_denied")]["out_of_scope_events"] == 0


def test_expirations_in_every_form(fixture_trail: Trail) -> None:
    calls = {r["session_id"]: r for r in fixture_trail.query("assume_root_calls").rows(named=True)}
    expected = {
        "mfa_2024": "2024-12-10 15:22:05",
        "mfa_denied": "2025-02-03 10:45:00",
        "iso": "2025-03-04 10:15:00",
        "long": "2025-05-06 09:20:00",
    }
    for label, when in expected.items():
        assert calls[MAKE.event_id(label)]["expires_at"] == _utc(when), label
    assert "\u202f" in calls[MAKE.event_id("mfa_denied")]["expiration_text"]
    assert calls[MAKE.event_id("odd")]["expires_at"] is None


def test_a_copy_in_the_target_and_events_without_the_flag(fixture_trail: Trail) -> None:
    calls = fixture_trail.query("assume_root_calls")
    assert MAKE.event_id("iso copy in target") not in set(calls["session_id"])
    (iso,) = _rows(fixture_trail.sessions(), session_id=MAKE.event_id("iso"))
    assert (iso["target_account_id"], iso["events"], iso["out_of_scope_events"]) == (
        MAKE.TARGETS["iso"],
        3,
        0,
    )
    timeline = fixture_trail.session_timeline(MAKE.event_id("iso"))
    assert timeline["scope"].to_list() == [
        "issuing call",
        "no permission needed",
        "in scope",
        "in scope",
    ]
    long_term = fixture_trail.query("root_long_term_activity")
    assert long_term.filter(pl.col("account_id") == MAKE.TARGETS["keys"])["event_id"].to_list() == [
        MAKE.event_id("keys 1 ListBuckets with deleted key"),
        MAKE.event_id("keys 2 failed console login"),
    ]


def test_every_way_out_of_scope(fixture_trail: Trail) -> None:
    timeline = fixture_trail.session_timeline(MAKE.event_id("scope"))
    assert [(r["event_name"], r["scope"], r["outcome"]) for r in timeline.rows(named=True)] == [
        ("AssumeRoot", "issuing call", "succeeded"),
        ("GetUser", "out of scope: not the root user", "failed"),
        ("RunInstances", "unknown action", "failed"),
        ("ListAccessKeys", "in scope", "failed"),
        ("DescribeRegions", "unknown action", "succeeded"),
    ]
    assert timeline["aws_region"].to_list() == [
        "us-east-1",
        "us-east-1",
        "eu-central-1",
        "us-east-1",
        "eu-central-1",
    ]


def test_a_root_temporary_key_is_not_always_a_console_session(fixture_trail: Trail) -> None:
    """Root credentials can call GetSessionToken (STS API reference): its ASIA key is a
    temporary key, a console session only where the record says sessionCredentialFromConsole."""
    activity = fixture_trail.query("root_long_term_activity")
    doors = _rows(activity, account_id=MAKE.TARGETS["tempkey"])
    assert [(r["event_name"], r["credential"]) for r in doors] == [
        ("GetSessionToken", "access key"),
        ("ListBuckets", "temporary key"),
    ]


def test_password_changes_are_in_the_root_credential_history(fixture_trail: Trail) -> None:
    """PasswordUpdated is a root password change; {"PasswordUpdated": "Failure"} (no errorCode,
    as real captures show it) is a failed one."""
    changes = fixture_trail.query("root_credential_changes")
    mine = _rows(changes, account_id=MAKE.TARGETS["password"])
    assert [(r["credential"], r["change"], r["outcome"], r["error_code"]) for r in mine] == [
        ("password", "updated", "failed", "Failure"),
        ("password", "updated", "succeeded", None),
    ]
    activity = _rows(
        fixture_trail.query("root_long_term_activity"), account_id=MAKE.TARGETS["password"]
    )
    assert [(r["event_name"], r["credential"], r["outcome"]) for r in activity] == [
        ("ConsoleLogin", "console sign-in", "succeeded"),
        ("PasswordUpdated", "password change", "failed"),
        ("PasswordUpdated", "password change", "succeeded"),
    ]

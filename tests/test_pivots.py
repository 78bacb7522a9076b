"""Forensic pivots (issue 8): credential lineage, the timeline and the identity summary, over
the tests/fixtures/lineage organization, hand-made edge cases and the real datasets."""

from __future__ import annotations

import importlib.util
import json
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from tests.conftest import FIXTURES, module_result, real
from tests.logs import write_delivery
from trailscope import output
from trailscope.analysis import load_queries
from trailscope.cli import cli
from trailscope.pivots import NoPivot
from trailscope.trail import Trail

HERE = FIXTURES / "lineage"
LOGS = HERE / "AWSLogs"
MODULES = (
    "credential_mints",
    "credential_links",
    "credential_keys",
    "credential_chains",
    "credential_lineage",
    "timeline",
    "identity_summary",
    "pivot_events",
    "credential_span",
    "timeline_events",
)
PIVOTS = (
    "access_key",
    "principal",
    "principal_like",
    "session",
    "ip",
    "account",
    "since",
    "until",
    "follow",
)
NO_PIVOTS: dict[str, Any] = dict.fromkeys(PIVOTS)


def _make() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lineage_make", HERE / "make.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MAKE = _make()
KEYS: dict[str, str] = MAKE.KEYS
ALICE_AKIA: str = MAKE.ALICE_AKIA
ERIN_AKIA: str = MAKE.ERIN_AKIA
SAML_PROVIDER: str = MAKE.SAML_PROVIDER
OIDC_PROVIDER: str = MAKE.OIDC_PROVIDER
ATTACKER: str = MAKE.ATTACKER
# golden parameters: the timeline from alice's access key, followed down its three role hops
PARAMS: dict[str, dict[str, Any]] = {
    "timeline": {**NO_PIVOTS, "access_key": ALICE_AKIA, "follow": True},
    "timeline_events": {**NO_PIVOTS, "access_key": ALICE_AKIA, "follow": True},
    "identity_summary": NO_PIVOTS,
    "pivot_events": {"access_key": ALICE_AKIA},
    "credential_span": {"ip": MAKE.ATTACKER},
}


def event(label: str) -> str:
    """The eventID make.py gives the record with this label."""
    return str(uuid.uuid5(MAKE.NAMESPACE, label))


@pytest.fixture(scope="module")
def trail() -> Iterator[Trail]:
    with Trail() as t:
        s = t.ingest(LOGS)
        assert (s.ok, s.files_read, s.stored, s.duplicates) == (True, 18, 40, 0)
        yield t


def _by_key(df: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {r["access_key_id"]: r for r in df.rows(named=True)}


def test_fixture_files_are_what_make_py_writes() -> None:
    written = {p.relative_to(HERE).as_posix(): p.read_bytes() for p in LOGS.rglob("*.json.gz")}
    assert written == MAKE.deliveries(), "run python tests/fixtures/lineage/make.py"


@pytest.mark.parametrize("name", MODULES)
def test_golden(trail: Trail, golden: Callable[[str, str], None], name: str) -> None:
    df = module_result(trail, name, PARAMS.get(name, {}))
    golden(f"queries/{name}.csv", output.plain(df).write_csv())  # lists as JSON text


@pytest.mark.parametrize("name", MODULES)
def test_columns_equal_outputs_on_an_empty_database(name: str) -> None:
    df = module_result(None, name, PARAMS.get(name, {}))
    assert df.height == (name == "credential_span")  # a span's one row, of nulls


def test_only_the_first_modules_read_the_json_columns() -> None:
    """JSON is parsed for STS calls and console sign-ins only, never for every event."""
    queries = load_queries()
    using = [
        n
        for n in MODULES
        if re.search(
            r"->>|json_extract", re.sub(r"/\*.*?\*/|--[^\n]*", "", queries[n].sql, flags=re.DOTALL)
        )
    ]
    assert using == ["credential_mints", "credential_keys"]


def test_summary_sums_up_what_the_timeline_selects() -> None:
    """The timeline and the summary read one selection (timeline_events, computed with the
    same parameters), so the two cannot select events differently."""
    queries = load_queries()
    assert "timeline_events" in queries["timeline"].inputs
    assert "timeline_events" in queries["identity_summary"].inputs
    for name in ("timeline", "identity_summary"):
        assert "matched as (" not in queries[name].sql
    assert queries["timeline"].params == queries["identity_summary"].params == PIVOTS
    assert queries["timeline_events"].params == PIVOTS


# lineage ------------------------------------------------------------------------------------
def test_a_chain_of_three_role_hops_across_two_accounts(trail: Trail) -> None:
    lineage = _by_key(trail.query("credential_lineage"))
    third = lineage[KEYS["alice dbadmin"]]
    assert third["identity_arn"] == "arn:aws:sts::333333333333:assumed-role/DbAdmin/alice-db"
    assert third["depth"] == 3
    assert third["chain"] == " < ".join(
        [KEYS["alice dbadmin"], KEYS["alice deployer"], KEYS["alice responder"], ALICE_AKIA]
    )
    assert third["chain_arns"].endswith(
        "assumed-role/Responder/alice < arn:aws:iam::222222222222:user/alice"
    )
    assert (third["accounts"], third["cross_account"]) == ("222222222222, 333333333333", True)
    assert (third["origin_kind"], third["origin"], third["origin_in_logs"]) == (
        "long_term_key",
        "arn:aws:iam::222222222222:user/alice",
        True,
    )
    assert third["origin_access_key_id"] == ALICE_AKIA
    assert third["source_identity"] == "alice"
    assert [lineage[KEYS[k]]["depth"] for k in ("alice responder", "alice deployer")] == [1, 2]
    assert lineage[ALICE_AKIA]["depth"] == 0


def test_a_cross_account_call_counts_once_with_the_callers_key(trail: Trail) -> None:
    mints = _by_key(trail.query("credential_mints"))
    hop = mints[KEYS["alice deployer"]]
    assert hop["copies"] == 2  # the caller's account and the role's account
    assert hop["mint_event_id"] == event("responder to deployer")
    assert hop["mint_account_id"] == "222222222222"
    assert hop["caller_access_key_id"] == KEYS["alice responder"]
    assert (hop["issued_account_id"], hop["source_identity"]) == ("333333333333", "alice")
    timeline = trail.timeline(access_key=KEYS["alice responder"])
    copy = timeline.filter(pl.col("reached") == "copy").row(0, named=True)
    assert copy["event_id"] == event("responder to deployer, role account copy")
    assert (copy["account_id"], copy["identity_type"]) == ("333333333333", "AWSAccount")


def test_an_assume_root_session_reached_through_a_role_chain(trail: Trail) -> None:
    root = _by_key(trail.query("credential_lineage"))[KEYS["bob root session"]]
    assert (root["identity_type"], root["identity_arn"]) == (
        "Root",
        "arn:aws:iam::333333333333:root",
    )
    assert (root["mint_event_name"], root["mint_event_id"]) == ("AssumeRoot", event("assume root"))
    assert root["parent_access_key_id"] == KEYS["bob rootops"]
    assert root["depth"] == 3
    assert (root["origin_kind"], root["origin"]) == ("saml_provider", SAML_PROVIDER)
    assert root["origin_event_id"] == event("bob saml")
    assert root["cross_account"]
    # the root session's own records carry no source identity: it comes down the chain
    assert root["source_identity"] == "bob@example.com"
    assert (
        trail.sql(
            "select count(*) as n from events where access_key_id = $k "
            "and source_identity is not null",
            k=KEYS["bob root session"],
        ).item()
        == 0
    )


def test_console_keys_are_tied_to_their_sign_in_or_session(trail: Trail) -> None:
    keys = _by_key(trail.query("credential_keys"))
    for label in ("carol console 1", "carol console 2"):
        key = keys[KEYS[label]]
        assert (key["link"], key["mint_event_id"], key["mint_event_name"]) == (
            "console_login",
            event("carol signs in"),
            "ConsoleLogin",
        )
        assert key["parent_access_key_id"] is None and key["from_console"]
    # a key the console minted for bob's SAML role session: tied to the SAML call by the
    # session's ARN and creationDate
    bob = keys[KEYS["bob console"]]
    assert (bob["link"], bob["mint_event_id"], bob["parent_access_key_id"]) == (
        "session",
        event("bob saml"),
        None,
    )
    assert _by_key(trail.query("credential_lineage"))[KEYS["bob console"]]["origin_kind"] == (
        "saml_provider"
    )
    readonly = _by_key(trail.query("credential_lineage"))[KEYS["carol readonly"]]
    assert (readonly["depth"], readonly["origin_kind"], readonly["origin"]) == (
        2,
        "console_login",
        "arn:aws:iam::111111111111:user/carol",
    )


def test_where_the_chain_leaves_the_logs(trail: Trail) -> None:
    lineage = _by_key(trail.query("credential_lineage"))
    for label, depth in (("dave ops", 0), ("dave backup", 1)):
        row = lineage[KEYS[label]]
        assert (row["origin_kind"], row["origin_in_logs"], row["depth"]) == (
            "not_in_logs",
            False,
            depth,
        )
        assert row["origin"] == "arn:aws:sts::333333333333:assumed-role/Ops/dave"
        assert row["origin_access_key_id"] == KEYS["dave ops"]
    # a vendor outside the organization: only the role account's copy of its call is logged
    vendor = lineage[KEYS["vendor audit"]]
    assert (vendor["origin_kind"], vendor["origin_in_logs"], vendor["depth"]) == (
        "caller_key_not_logged",
        False,
        1,
    )
    assert vendor["origin"] == f"{MAKE.SCANNER['principalId']} (555555555555)"
    assert vendor["origin_event_id"] == event("vendor to audit, role account copy")
    mint = _by_key(trail.query("credential_mints"))[KEYS["vendor audit"]]
    assert (mint["copies"], mint["caller_type"], mint["caller_access_key_id"]) == (
        1,
        "AWSAccount",
        None,
    )
    assert {r["origin_kind"] for r in lineage.values() if not r["origin_in_logs"]} == {
        "not_in_logs",
        "caller_key_not_logged",
    }


def test_providers_services_and_long_term_keys_are_origins(trail: Trail) -> None:
    lineage = _by_key(trail.query("credential_lineage"))
    keys = _by_key(trail.query("credential_keys"))
    web = lineage[KEYS["web server"]]
    assert (web["origin_kind"], web["origin"], web["depth"]) == (
        "aws_service",
        "ec2.amazonaws.com",
        1,
    )
    assert web["identity_arn"].endswith("assumed-role/WebServer/i-0a1b2c3d4e5f60718")
    for label in ("ci run 1", "ci run 2"):
        assert (lineage[KEYS[label]]["origin_kind"], lineage[KEYS[label]]["origin"]) == (
            "web_identity_provider",
            OIDC_PROVIDER,
        )
    assert keys[KEYS["ci run 2"]]["events"] == 0  # issued, never used
    for label in ("erin session token", "erin federation"):
        assert (lineage[KEYS[label]]["origin_kind"], lineage[KEYS[label]]["origin"]) == (
            "long_term_key",
            "arn:aws:iam::222222222222:user/erin",
        )
    assert keys[KEYS["erin federation"]]["identity_arn"] == (
        "arn:aws:sts::222222222222:federated-user/erin-contractor"
    )
    assert keys[KEYS["erin session token"]]["identity_type"] == "IAMUser"


def test_keys_used_from_two_ips(trail: Trail) -> None:
    keys = _by_key(trail.query("credential_keys"))
    assert keys[KEYS["web server"]]["source_ips"] == f"{ATTACKER}, 203.0.113.50"
    assert keys[KEYS["alice dbadmin"]]["source_ips"] == f"{ATTACKER}, 203.0.113.10"
    two = [k for k, r in keys.items() if r["source_ips"] and ", " in r["source_ips"]]
    assert sorted(two) == sorted([KEYS["web server"], KEYS["alice dbadmin"]])


# timeline -----------------------------------------------------------------------------------
def _timeline(df: pl.DataFrame) -> list[tuple[Any, ...]]:
    return df.select("reached", "hop", "event_name", "access_key_id").rows()


def test_following_alices_key_down_three_hops(trail: Trail) -> None:
    df = trail.timeline(access_key=ALICE_AKIA, follow=True)
    assert df["event_time"].is_sorted()
    assert _timeline(df) == [
        ("pivot", 0, "GetCallerIdentity", ALICE_AKIA),
        ("pivot", 0, "AssumeRole", ALICE_AKIA),  # AccessDenied
        ("pivot", 0, "AssumeRole", ALICE_AKIA),
        ("copy", None, "AssumeRole", None),  # the role account's copy of the second hop
        ("follow", 1, "AssumeRole", KEYS["alice responder"]),
        ("follow", 2, "GetCallerIdentity", KEYS["alice deployer"]),
        ("follow", 2, "AssumeRole", KEYS["alice deployer"]),
        ("follow", 3, "DescribeDBInstances", KEYS["alice dbadmin"]),
        ("follow", 3, "CreateDBSnapshot", KEYS["alice dbadmin"]),
        ("follow", 3, "ModifyDBSnapshotAttribute", KEYS["alice dbadmin"]),
        ("follow", 3, "ListRoles", KEYS["alice dbadmin"]),
    ]
    assert df["issued_access_key_id"].drop_nulls().to_list() == [
        KEYS["alice responder"],
        KEYS["alice deployer"],
        KEYS["alice dbadmin"],
    ]
    assert set(df.filter(pl.col("hop") == 3)["source_ip"]) == {"203.0.113.10", ATTACKER}
    assert set(df["origin"].drop_nulls()) == {"arn:aws:iam::222222222222:user/alice"}
    without = trail.timeline(access_key=ALICE_AKIA)
    assert without["reached"].to_list() == ["pivot"] * 3


def test_an_ip_shows_both_keys_used_from_it_and_who_issued_them(trail: Trail) -> None:
    df = trail.timeline(ip=ATTACKER)
    assert _timeline(df) == [
        ("mint", None, "AssumeRole", KEYS["alice deployer"]),  # issued alice's third-hop key
        ("mint", None, "AssumeRole", None),  # EC2 delivering the instance role
        ("pivot", 0, "ModifyDBSnapshotAttribute", KEYS["alice dbadmin"]),
        ("pivot", 0, "ListRoles", KEYS["alice dbadmin"]),
        ("pivot", 0, "ListBuckets", KEYS["web server"]),
        ("pivot", 0, "GetCallerIdentity", KEYS["web server"]),
    ]
    assert df.filter(pl.col("reached") == "mint")["issued_access_key_id"].to_list() == [
        KEYS["alice dbadmin"],
        KEYS["web server"],
    ]
    assert df.filter(pl.col("reached") == "pivot")["origin_kind"].to_list() == [
        "long_term_key",
        "long_term_key",
        "aws_service",
        "aws_service",
    ]


def test_sessions_by_assume_root_id_by_key_and_by_role_session_arn(trail: Trail) -> None:
    by_id = trail.timeline(session=event("assume root"))
    assert _timeline(by_id) == [
        ("mint", None, "AssumeRoot", KEYS["bob rootops"]),
        ("pivot", 0, "GetBucketPolicy", KEYS["bob root session"]),
        ("pivot", 0, "DeleteBucketPolicy", KEYS["bob root session"]),
    ]
    assert trail.timeline(session=KEYS["bob root session"]).equals(by_id)
    assert set(by_id["aws_region"]) == {"eu-west-1"}  # AssumeRoot has no global endpoint
    chain = trail.timeline(
        session="arn:aws:sts::111111111111:assumed-role/OrgAdmin/bob@example.com", follow=True
    )
    assert _timeline(chain) == [
        ("mint", None, "AssumeRoleWithSAML", None),
        ("pivot", 0, "ListAccounts", KEYS["bob orgadmin"]),
        ("pivot", 0, "AssumeRole", KEYS["bob orgadmin"]),
        ("follow", 1, "AssumeRoot", KEYS["bob rootops"]),  # ValidationError
        ("follow", 1, "AssumeRoot", KEYS["bob rootops"]),
        ("follow", 2, "GetBucketPolicy", KEYS["bob root session"]),
        ("follow", 2, "DeleteBucketPolicy", KEYS["bob root session"]),
        ("pivot", 0, "DescribeOrganization", KEYS["bob console"]),
    ]
    assert set(chain["source_identity"].drop_nulls()) == {"bob@example.com"}


def test_principals_exact_and_like(trail: Trail) -> None:
    role = trail.timeline(principal="arn:aws:iam::333333333333:role/DbAdmin")
    assert set(role.filter(pl.col("reached") == "pivot")["identity_arn"]) == {
        "arn:aws:sts::333333333333:assumed-role/DbAdmin/alice-db"
    }
    assert role.filter(pl.col("reached") == "pivot").height == 4
    assert trail.timeline(principal="arn:aws:iam::333333333333:role/DbAdmi").is_empty()
    like = trail.timeline(principal_like="CAROL")
    assert set(like.filter(pl.col("reached") == "pivot")["identity_arn"]) == {
        "arn:aws:iam::111111111111:user/carol",
        "arn:aws:sts::111111111111:assumed-role/ReadOnly/carol",
    }
    # the console sign-in is the mint row of carol's console keys and a pivot row itself
    assert like.filter(pl.col("event_name") == "ConsoleLogin")["reached"].to_list() == ["pivot"]
    service = trail.timeline(principal="ec2.amazonaws.com")
    assert service["event_name"].to_list() == ["AssumeRole"]


def test_accounts_and_time_bounds(trail: Trail) -> None:
    mgmt = trail.timeline(account="111111111111")
    assert set(mgmt["account_id"]) == {"111111111111"}
    assert (
        mgmt.height
        == trail.sql(
            "select count(*) from events where recipient_account_id = '111111111111'"
        ).item()
    )
    window = trail.timeline(
        access_key=ALICE_AKIA,
        follow=True,
        since="2024-12-02T09:01:00Z",
        until="2024-12-02T09:05:00Z",
    )
    assert window["event_name"].to_list() == [
        "GetCallerIdentity",
        "AssumeRole",
        "DescribeDBInstances",
        "CreateDBSnapshot",
    ]
    # a bare day: from its start, or up to its end
    assert trail.timeline(ip=ATTACKER, until="2024-12-02").height == 6
    assert trail.timeline(ip=ATTACKER, since="2024-12-03").is_empty()


def test_a_timeline_needs_a_pivot(trail: Trail) -> None:
    with pytest.raises(NoPivot):
        trail.timeline()
    with pytest.raises(NoPivot):
        trail.timeline(access_key="", follow=True)


def test_pivot_values_are_data_not_sql(trail: Trail) -> None:
    hostile = "x' or '1'='1"
    for pivot in ("access_key", "principal", "principal_like", "session", "ip", "account"):
        assert trail.timeline(**{pivot: hostile}).is_empty()


# summary ------------------------------------------------------------------------------------
def test_summary_of_every_identity(trail: Trail) -> None:
    df = trail.summary()
    assert df["events"].sum() == 40 and df["events"].is_sorted(descending=True)
    rows = {r["identity"]: r for r in df.rows(named=True)}
    db = rows["arn:aws:sts::333333333333:assumed-role/DbAdmin/alice-db"]
    assert (db["events"], db["failed_events"]) == (4, 1)
    assert db["apis_succeeded"] == [
        "rds:CreateDBSnapshot",
        "rds:DescribeDBInstances",
        "rds:ModifyDBSnapshotAttribute",
    ]
    assert db["apis_failed"] == ["iam:ListRoles (AccessDenied)"]
    assert db["source_ips"] == [ATTACKER, "203.0.113.10"]
    assert len(db["user_agents"]) == 2  # a list: a user agent may hold any separator
    assert db["origins"] == ["long_term_key arn:aws:iam::222222222222:user/alice"]
    carol = rows["arn:aws:iam::111111111111:user/carol"]
    assert carol["access_keys"] == sorted([KEYS["carol console 1"], KEYS["carol console 2"]])
    root = rows["arn:aws:iam::333333333333:root"]
    assert (root["regions"], root["origins"]) == (["eu-west-1"], [f"saml_provider {SAML_PROVIDER}"])
    assert rows["ec2.amazonaws.com"]["identity_type"] == "AWSService"


def test_summary_of_what_one_key_led_to(trail: Trail) -> None:
    df = trail.summary(access_key=KEYS["bob orgadmin"], follow=True)
    assert df.select("identity", "events").rows() == [
        ("arn:aws:iam::333333333333:root", 2),
        ("arn:aws:sts::111111111111:assumed-role/OrgAdmin/bob@example.com", 2),
        ("arn:aws:sts::111111111111:assumed-role/RootOps/bob-rootops", 2),
    ]


# a pivot's lineage is the whole database's ------------------------------------------------------
LINEAGE_PIVOTS = ("access_key", "principal", "principal_like", "session", "ip", "account", "follow")


def _assert_pivot_lineage_is_the_whole(t: Trail, pivots: list[dict[str, Any]]) -> None:
    """For each pivot, the keys it reaches are looked up alone (credential_keys and
    credential_lineage with its parameters), and each says what the whole database says of it;
    so does every row of its timeline."""
    keys, lineage = _by_key(t.query("credential_keys")), _by_key(t.query("credential_lineage"))
    for pivot in pivots:
        params = {**dict.fromkeys(LINEAGE_PIVOTS), **pivot}
        for row in t.query("credential_keys", **params).rows(named=True):
            assert row == keys[row["access_key_id"]], (pivot, row["access_key_id"])
        for row in t.query("credential_lineage", **params).rows(named=True):
            assert row == lineage[row["access_key_id"]], (pivot, row["access_key_id"])
        timeline = t.timeline(**pivot)
        for row in timeline.filter(pl.col("access_key_id") != "").rows(named=True):
            whole = lineage[row["access_key_id"]]
            assert (row["origin_kind"], row["origin"], row["depth"]) == (
                whole["origin_kind"],
                whole["origin"],
                whole["depth"],
            ), (pivot, row["event_id"])


def test_a_pivot_walks_only_what_it_reaches_and_finds_what_the_whole_finds(trail: Trail) -> None:
    keys = trail.query("credential_keys")["access_key_id"].to_list()
    ips = trail.sql("select distinct source_ip from events order by 1")["source_ip"].to_list()
    accounts = trail.sql("select distinct recipient_account_id as a from events order by 1")
    pivots: list[dict[str, Any]] = [
        *({"access_key": k, "follow": True} for k in keys[::2]),
        *({"access_key": k} for k in keys[1::4]),
        *({"ip": ip} for ip in ips),
        *({"account": a, "follow": True} for a in accounts["a"]),
        {"session": event("assume root"), "follow": True},
        {"session": KEYS["bob root session"]},
        {"session": event("carol signs in")},  # a console sign-in: the keys it started
        {"principal_like": "alice", "follow": True},
    ]
    _assert_pivot_lineage_is_the_whole(trail, pivots)
    # alice's key with follow reaches her three hops down, and nothing of anyone else's
    alice = trail.query(
        "credential_keys",
        **{**dict.fromkeys(LINEAGE_PIVOTS), "access_key": ALICE_AKIA, "follow": True},
    )
    assert set(alice["access_key_id"]) == {
        ALICE_AKIA,
        KEYS["alice responder"],
        KEYS["alice deployer"],
        KEYS["alice dbadmin"],
    }


def test_a_pivot_finds_what_the_whole_finds_in_real_logs(invictus: Trail) -> None:
    keys = invictus.sql(
        "select access_key_id, count(*) as n from events where access_key_id <> '' "
        "group by 1 order by 2 desc, 1 limit 15"
    )["access_key_id"].to_list()
    pivots = [{"access_key": k, "follow": True} for k in keys]
    pivots += [{"ip": "192.168.10.20"}, {"account": "123837392027"}]
    _assert_pivot_lineage_is_the_whole(invictus, pivots)


# cycles and depth ---------------------------------------------------------------------------
def _mint(n: int, caller: str, issued: str, time: str) -> dict[str, Any]:
    return {
        "eventVersion": "1.09",
        "userIdentity": {
            "type": "AssumedRole",
            "accessKeyId": caller,
            "accountId": "1" * 12,
            "arn": f"arn:aws:sts::111111111111:assumed-role/R/{caller}",
        },
        "eventTime": time,
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "192.0.2.1",
        "userAgent": "test",
        "requestParameters": {
            "roleArn": "arn:aws:iam::111111111111:role/R",
            "roleSessionName": issued,
        },
        "responseElements": {"credentials": {"accessKeyId": issued}},
        "eventID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mint {n}")),
        "eventType": "AwsApiCall",
        "recipientAccountId": "111111111111",
    }


def test_a_cycle_and_a_long_chain_stop(tmp_path: Path) -> None:
    """Forged logs can make keys each other's parents, or chain without end: the walk stops."""
    cycle = [
        _mint(1, "ASIACYCLEA", "ASIACYCLEB", "2024-01-01T00:00:01Z"),
        _mint(2, "ASIACYCLEB", "ASIACYCLEA", "2024-01-01T00:00:02Z"),
    ]
    long = [
        _mint(10 + i, f"ASIALONG{i:02d}", f"ASIALONG{i + 1:02d}", f"2024-01-01T00:01:{i:02d}Z")
        for i in range(20)
    ]
    write_delivery(tmp_path, "111111111111", "us-east-1", "2024-01-01", "x", cycle + long)
    with Trail() as t:
        assert t.ingest(tmp_path).ok
        lineage = _by_key(t.query("credential_lineage"))
        a = lineage["ASIACYCLEA"]
        assert (a["origin_kind"], a["origin_in_logs"], a["chain"]) == (
            "cycle",
            False,
            "ASIACYCLEA < ASIACYCLEB",
        )
        last = lineage["ASIALONG20"]
        assert (last["origin_kind"], last["depth"], last["origin_access_key_id"]) == (
            "depth_limit",
            16,
            "ASIALONG04",
        )
        assert lineage["ASIALONG10"]["origin_kind"] == "not_in_logs"  # ASIALONG00 is the top
        followed = t.timeline(access_key="ASIACYCLEA", follow=True)
        assert followed["event_id"].n_unique() == followed.height == 2


# command line -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lineage") / "trail.duckdb"
    with Trail(path) as t:
        assert t.ingest(LOGS).ok
    return path


def test_cli_timeline_and_summary(db: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["timeline", "--db", str(db), "--ip", ATTACKER, "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("event_time,event_id,reached,hop,") and len(lines) == 7
    result = runner.invoke(
        cli,
        [
            "summary",
            "--db",
            str(db),
            "--access-key",
            KEYS["alice responder"],
            "--follow",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert [r["identity"].rsplit("/", 1)[-1] for r in json.loads(result.output)] == [
        "alice-db",
        "alice-deploy",
        "alice",
    ]
    result = runner.invoke(cli, ["timeline", "--db", str(db)])
    assert result.exit_code == 1 and "needs a pivot" in result.output
    result = runner.invoke(
        cli, ["timeline", "--db", str(db), "--ip", ATTACKER, "--since", "yesterday"]
    )
    assert result.exit_code == 1 and "not a date" in result.output


# real data ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def invictus() -> Iterator[Trail]:
    with Trail() as t:
        assert t.ingest(real("invictus-aws_dataset")).ok
        yield t


def test_invictus_console_session_keys_and_their_sign_in(invictus: Trail) -> None:
    """bert-jan signs in at 12:27:45 with MFA; the console then uses 21 keys, none in any
    response, all with that creationDate: all are tied to the ConsoleLogin."""
    keys = invictus.query("credential_keys")
    console = keys.filter(pl.col("link") == "console_login")
    assert console.height == 21
    assert set(console["mint_event_id"]) == {"8feee4c2-5e27-4857-8475-bfa7e7b6d791"}
    assert set(console["identity_arn"]) == {"arn:aws:iam::123837392027:user/bert-jan"}
    # one of them, and one of benjamin's access keys, used from two IPs
    two = keys.filter(pl.col("source_ips").str.contains(", "))
    assert dict(two.select("access_key_id", "source_ips").rows()) == {
        "ASIATFQR7NSC2T5YJDEY": "10.107.159.90, 10.8.8.10",
        "AKIATFQZ7NSC8Q4X21BJ": "10.107.112.14, 10.248.16.43",
    }
    # benjamin's console session began before the logs (11:42:31, no ConsoleLogin logged)
    lineage = _by_key(invictus.query("credential_lineage"))
    benjamin = [
        r
        for r in lineage.values()
        if r["identity_arn"]
        and r["identity_arn"].endswith("user/benjamin")
        and r["key_kind"] == "temporary"
    ]
    assert benjamin and {r["origin_kind"] for r in benjamin} == {"not_in_logs"}


def test_invictus_assume_role_lineage(invictus: Trail) -> None:
    mints = invictus.query("credential_mints")
    assert mints.height == 36  # the successful AssumeRole calls, each issuing one key
    assert dict(mints.group_by("caller_type").len().rows()) == {"IAMUser": 10, "AWSService": 26}
    lineage = invictus.query("credential_lineage")
    by_user = lineage.filter(pl.col("parent_access_key_id") == "AKIATFQR7NSC8Q4X20BJ")
    assert by_user.height == 10
    assert set(by_user.select("origin_kind", "origin", "depth").rows()) == {
        ("long_term_key", "arn:aws:iam::123837392027:user/bert-jan", 1)
    }
    services = lineage.filter(pl.col("origin_kind") == "aws_service")
    assert set(services["origin"]) == {
        "ec2.amazonaws.com",
        "inspector2.amazonaws.com",
        "rds.amazonaws.com",
        "lambda.amazonaws.com",
        "rolesanywhere.amazonaws.com",
    }
    assert lineage["depth"].max() == 1  # no role chaining in this capture


def test_invictus_stolen_instance_credentials_from_the_attackers_ip(invictus: Trail) -> None:
    """Stratus's ec2-steal-credentials: an instance role key used from 192.168.10.20, the IP
    bert-jan's access key runs the attack from, while the instance's own key calls from AWS."""
    df = invictus.timeline(ip="192.168.10.20")
    stolen = df.filter(pl.col("access_key_id") == "ASIATFQR7NSC36DZQP7P")
    assert stolen.height == 2 and set(stolen["origin_kind"]) == {"aws_service"}
    assert stolen["identity_arn"][0].endswith(
        "assumed-role/stratus-red-team-ec2-steal-credentials-role/i-0dbc91f429e48eeed"
    )
    mint = df.filter(
        (pl.col("reached") == "mint") & (pl.col("issued_access_key_id") == "ASIATFQR7NSC36DZQP7P")
    )
    assert mint.select("identity_type", "source_ip").rows() == [("AWSService", "ec2.amazonaws.com")]
    assert "AKIATFQR7NSC8Q4X20BJ" in set(df["access_key_id"])
    instance = _by_key(invictus.query("credential_keys"))["ASIATFQR7NSCSHSEVYP5"]
    assert instance["source_ips"] == "3.225.16.109"


def test_otrf_instance_role_key_used_from_outside() -> None:
    """The EC2 instance's role key, issued by ec2.amazonaws.com, lists and reads S3 from
    1.2.3.4 (the capture's stand-in for the attacker's host); pedro's temporary key was issued
    before the capture."""
    with Trail() as t:
        assert t.ingest(real("otrf-ec2-proxy-s3-exfil")).ok
        df = t.timeline(access_key="ASIA5FLZVX4OPVKKVBMX")
        assert df["reached"].to_list() == ["mint"] + ["pivot"] * 11
        mint = df.row(0, named=True)
        assert (mint["source_ip"], mint["identity_type"]) == ("ec2.amazonaws.com", "AWSService")
        assert mint["issued_arn"].endswith("/i-0317f6c6b66ae9c40")
        used = df.filter(pl.col("reached") == "pivot")
        assert set(used["source_ip"]) == {"1.2.3.4"}
        assert set(used["event_name"]) == {"ListBuckets", "ListObjects", "GetObject"}
        assert set(used.select("origin_kind", "origin", "depth").rows()) == {
            ("aws_service", "ec2.amazonaws.com", 1)
        }
        pedro = _by_key(t.query("credential_lineage"))["ASIA5FLZVX4OI4ZDQJOL"]
        assert (pedro["origin_kind"], pedro["origin"]) == (
            "not_in_logs",
            "arn:aws:iam::123456789123:user/pedro",
        )

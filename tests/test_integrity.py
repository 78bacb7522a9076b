"""Chain of custody (issue 18): digest chains signed with test key pairs, CloudTrail's algorithm
and no network, over a generated tree of real gzip files; ingested into real databases and
verified as a responder would: untouched, one byte altered, a file deleted, a file added, a digest
removed, a forged signature, a key rotation, an appended gzip member, and from S3 (the moto
server of tests/test_s3.py).

What the digests look like is modelled on the CloudTrail User Guide's "CloudTrail digest file
structure" (its sample digest and field descriptions); trailscope.synthetic.digests writes them.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.logs import delivery_bytes, sample_records
from tests.test_s3 import aws_env, endpoint  # noqa: F401 - the moto server, for S3
from trailscope import digests, render, report
from trailscope.cli import cli
from trailscope.digests import BadKeys
from trailscope.errors import BadSource
from trailscope.synthetic import generate_background
from trailscope.synthetic.digests import Signer, Written, listing, new_key, signer, write_digests
from trailscope.trail import Trail

UTC = dt.UTC
ACCOUNT = "111111111111"
ORG = "o-tr41lsc0pe"  # the generator's organization
DAY = dt.datetime(2026, 10, 5, tzinfo=UTC)  # the generator's first day
NOON = DAY + dt.timedelta(hours=12)
EVER = (dt.datetime(2020, 1, 1, tzinfo=UTC), dt.datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One account's organization trail in two regions over a day: 25 delivery files."""
    out = tmp_path_factory.mktemp("tree")
    generate_background(
        out, events=2000, seed=5, days=1, accounts=[ACCOUNT], regions=["us-east-1", "eu-west-1"]
    )
    return out


@pytest.fixture(scope="module")
def aws() -> Signer:
    """CloudTrail's key, as far as these tests know."""
    return signer(new_key())


@pytest.fixture(scope="module")
def other() -> Signer:
    """A second key pair: the next key after a rotation, or a forger's."""
    return signer(new_key())


class Case:
    """A copy of the tree with its digests, tampered with as a test says, ingested."""

    def __init__(
        self,
        root: Path,
        tree: Path,
        key_at: Callable[[dt.datetime], Signer],
        keys: list[tuple[Signer, dt.datetime, dt.datetime]],
    ) -> None:
        self.root = root
        self.tree = root / "tree"
        shutil.copytree(tree, self.tree)
        self.written = write_digests(self.tree, key_at)
        self.keys = root / "keys.json"
        self.keys.write_text(json.dumps(listing(keys)))
        self.db = root / "trail.duckdb"

    def digest(self, region: str, end: dt.datetime) -> Written:
        return next(w for w in self.written if f"/{region}/" in str(w.path) and w.end == end)

    def busy(self, region: str, n: int = 0) -> Written:
        """The n-th digest of the region's chain, after the first, that lists log files."""
        chain = sorted((w for w in self.written if f"/{region}/" in str(w.path)), key=_end)
        return [w for w in chain[1:-1] if self.listed(w)][n]

    def listed(self, written: Written) -> list[Path]:
        """The log files a digest lists, as local paths."""
        content = json.loads(gzip.decompress(written.path.read_bytes()))
        return [self.tree / digests.tail(f["s3Object"]) for f in content["logFiles"]]

    def newest(self) -> set[Path]:
        """The newest digest of each chain (a local copy cannot prove them)."""
        ends: dict[Path, Written] = {}
        for w in self.written:
            folder = w.path.parents[3]
            if folder not in ends or w.end > ends[folder].end:
                ends[folder] = w
        return {w.path for w in ends.values()}

    def verify(self, *, ingest_ok: bool = True) -> Any:
        with Trail(self.db) as trail:
            summary = trail.ingest(self.tree)
            assert summary.ok == ingest_ok, summary.lines()
            result = trail.verify(self.tree, public_keys=[self.keys])
            self.files = {
                Path(r["path"]) if r["file_id"] else r["path"]: r
                for r in trail.sql("select * from integrity_files").iter_rows(named=True)
            }
            self.digests = {
                r["path"]: r
                for r in trail.sql("select * from integrity_digests").iter_rows(named=True)
            }
            self.findings = trail.findings(check="integrity")
        return result


@pytest.fixture
def case(tmp_path: Path, tree: Path, aws: Signer) -> Iterator[Callable[..., Case]]:
    def make(
        key_at: Callable[[dt.datetime], Signer] | None = None,
        keys: list[tuple[Signer, dt.datetime, dt.datetime]] | None = None,
    ) -> Case:
        return Case(tmp_path, tree, key_at or (lambda _end: aws), keys or [(aws, *EVER)])

    yield make


def _end(w: Written) -> dt.datetime:
    return w.end


def _statuses(rows: dict[Any, dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rows.values():
        out[r["status"]] = out.get(r["status"], 0) + 1
    return out


def _regzip(path: Path, change: Callable[[bytes], bytes]) -> None:
    path.write_bytes(gzip.compress(change(gzip.decompress(path.read_bytes())), mtime=0))


# ---------------------------------------------------------------------------------------------
# the chain as CloudTrail writes it


def test_an_untouched_chain_is_valid_up_to_its_newest_digest(case: Callable[..., Case]) -> None:
    c = case()
    summary = c.verify()
    assert summary.ok, summary.lines()
    newest = c.newest()
    unproven = {p for w in c.written if w.path in newest for p in c.listed(w)}
    assert unproven  # the last hour of each region has files
    for path, row in c.files.items():
        assert row["status"] == ("unverified" if path in unproven else "valid"), row
        assert row["expected_sha256"] == row["actual_sha256"]
    assert len(c.files) == 25
    for path, row in c.digests.items():
        assert row["status"] == ("unverified" if Path(path) in newest else "valid"), row
    # one chain per region: a starting digest, then links
    assert sorted(r["link"] for r in c.digests.values()).count("start") == 2
    assert {r["link"] for r in c.digests.values()} == {"start", "linked"}
    assert c.findings.is_empty()


def test_one_byte_altered_is_modified(case: Callable[..., Case]) -> None:
    c = case()
    target = c.listed(c.busy("us-east-1"))[0]
    _regzip(target, lambda b: b.replace(b'"eventVersion":"1.', b'"eventVersion":"2.', 1))
    summary = c.verify()
    assert not summary.ok
    row = c.files[target]
    assert row["status"] == "modified" and row["actual_sha256"] != row["expected_sha256"]
    assert _statuses(c.files)["modified"] == 1
    (finding,) = c.findings.rows(named=True)
    assert finding["rule"] == "modified" and finding["severity"] == "critical"
    assert finding["account_id"] == ACCOUNT and str(target) in finding["title"]
    # the evidence is every event read from the altered file
    with Trail(c.db, read_only=True) as trail:
        ids = trail.sql(
            "select string_agg(event_id, ',' order by position) as ids from event_sources "
            "join files using (file_id) where path = $p",
            p=str(target),
        )["ids"][0]
    assert finding["evidence_event_ids"] == ids and ids.count(",") > 10


def test_a_deleted_file_is_named_by_its_digest(case: Callable[..., Case]) -> None:
    c = case()
    target = c.listed(c.busy("eu-west-1", 1))[0]
    target.unlink()
    assert not c.verify().ok
    url = f"s3://trailscope-synthetic/{digests.tail(str(target))}"
    assert c.files[url]["status"] == "deleted" and c.files[url]["file_id"] is None
    assert _statuses(c.files)["deleted"] == 1 and len(c.files) == 25
    (finding,) = c.findings.rows(named=True)
    assert (finding["rule"], finding["severity"]) == ("deleted", "critical")
    assert finding["evidence_event_ids"] == ""


def test_a_file_no_digest_lists_is_not_covered(case: Callable[..., Case]) -> None:
    c = case()
    folder = c.tree / "AWSLogs" / ORG / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "10" / "05"
    extra = folder / f"{ACCOUNT}_CloudTrail_us-east-1_20261005T1135Z_planted0000000000.json.gz"
    extra.write_bytes(gzip.compress(delivery_bytes(list(sample_records()[:3])), mtime=0))
    late = c.tree / "AWSLogs" / ORG / ACCOUNT / "CloudTrail" / "us-east-1" / "2026" / "10" / "09"
    late.mkdir(parents=True)
    outside = late / f"{ACCOUNT}_CloudTrail_us-east-1_20261009T0000Z_later00000000000.json.gz"
    outside.write_bytes(gzip.compress(delivery_bytes(list(sample_records()[3:4])), mtime=0))
    assert not c.verify().ok
    assert (c.files[extra]["status"], c.files[extra]["coverage"]) == ("not_covered", "unlisted")
    assert c.files[outside]["coverage"] == "outside"
    rules = {r["rule"]: r for r in c.findings.rows(named=True)}
    assert rules["unlisted"]["severity"] == "high"
    assert rules["unlisted"]["evidence_event_ids"].count(",") == 2  # its three events
    assert rules["outside"]["severity"] == "medium"


def test_a_digest_removed_from_the_middle_of_the_chain(case: Callable[..., Case]) -> None:
    c = case()
    removed = c.busy("us-east-1", 1)
    before = c.digest("us-east-1", removed.end - dt.timedelta(hours=1))
    after = c.digest("us-east-1", removed.end + dt.timedelta(hours=1))
    hidden = c.listed(removed)
    assert hidden
    removed.path.unlink()
    assert not c.verify().ok
    missing = c.digests[f"s3://trailscope-synthetic/{removed.key}"]
    assert missing["status"] == "missing"
    assert (missing["digest_start"], missing["digest_end"]) == (before.end, removed.end)
    assert c.digests[str(after.path)]["link"] == "missing"
    # its predecessor's signature was in the removed digest: a local copy cannot prove it now
    assert c.digests[str(before.path)]["status"] == "unverified"
    for path in hidden:
        assert (c.files[path]["status"], c.files[path]["coverage"]) == (
            "not_covered",
            "missing_digest",
        )
    rules = {r["rule"] for r in c.findings.rows(named=True)}
    assert {"digest_missing", "digest_link_missing", "missing_digest"} <= rules


def test_a_digest_altered_to_hide_a_file_breaks_the_chain(case: Callable[..., Case]) -> None:
    """A file dropped from its digest's list: the digest no longer matches its signature nor
    the hash its successor holds of it, and the file is one no digest lists."""
    c = case()
    altered = c.busy("eu-west-1")
    hidden = c.listed(altered)[0]
    content = json.loads(gzip.decompress(altered.path.read_bytes()))
    content["logFiles"] = content["logFiles"][1:]
    altered.path.write_bytes(gzip.compress(json.dumps(content).encode()))
    assert not c.verify().ok
    assert c.digests[str(altered.path)]["status"] == "bad_signature"
    after = c.digests[str(c.digest("eu-west-1", altered.end + dt.timedelta(hours=1)).path)]
    assert after["link"] == "broken" and "previousDigestHashValue" in after["reason"]
    assert (c.files[hidden]["status"], c.files[hidden]["coverage"]) == ("not_covered", "unlisted")
    rules = {r["rule"] for r in c.findings.rows(named=True)}
    assert rules == {"digest_bad_signature", "digest_link_broken", "unlisted"}


def test_a_digest_with_a_bad_signature(
    case: Callable[..., Case], aws: Signer, other: Signer
) -> None:
    forger = Signer(other.key, aws.fingerprint)  # claims CloudTrail's key, signs with its own
    c = case(key_at=lambda end: forger if end == NOON else aws)
    summary = c.verify()
    assert not summary.ok
    forged = c.digest("eu-west-1", NOON)
    assert c.digests[str(forged.path)]["status"] == "bad_signature"
    assert c.digests[str(c.digest("us-east-1", NOON).path)]["status"] == "bad_signature"
    # what a forged digest lists proves nothing
    for path in c.listed(forged):
        assert c.files[path]["status"] == "unverified"
    assert _statuses(c.digests).get("bad_signature") == 2
    severities = {r["rule"]: r["severity"] for r in c.findings.rows(named=True)}
    assert severities == {"digest_bad_signature": "critical"}


def test_a_key_rotation_inside_the_period(
    case: Callable[..., Case], aws: Signer, other: Signer
) -> None:
    """Until noon CloudTrail signs with one key, from noon with the next: every digest is
    valid, the keys' validity times overlapping at the rotation as ListPublicKeys allows."""
    c = case(
        key_at=lambda end: aws if end <= NOON else other,
        keys=[(aws, EVER[0], NOON), (other, NOON, EVER[1])],
    )
    assert c.verify().ok
    fingerprints = {r["fingerprint"] for r in c.digests.values()}
    assert fingerprints == {aws.fingerprint, other.fingerprint}
    assert set(_statuses(c.digests)) == {"valid", "unverified"}


def test_a_digest_signed_with_a_key_past_its_validity(
    case: Callable[..., Case], aws: Signer, other: Signer
) -> None:
    """The old key, retired at noon, still signing in the afternoon: CloudTrail did not."""
    c = case(keys=[(aws, EVER[0], NOON), (other, NOON, EVER[1])])
    assert not c.verify().ok
    for row in c.digests.values():
        late = row["digest_end"] > NOON  # signed after the old key's validity ended
        if row["status"] != "unverified":
            assert row["status"] == ("key_not_valid" if late else "valid"), row
    assert "key_not_valid" in _statuses(c.digests)


def test_an_appended_gzip_member_is_flagged(case: Callable[..., Case]) -> None:
    c = case()
    target = c.listed(c.busy("us-east-1", 2))[0]
    extra = dict(sample_records()[0], eventID="99999999-0000-0000-0000-000000000001")
    with target.open("ab") as fh:  # a member that makes the whole read as JSON lines
        fh.write(gzip.compress(b"\n" + json.dumps(extra).encode(), mtime=0))
    # read whole, the file is the delivered Records document and a record after it: ingest
    # stores both (delivery files joined), and verify says the file is not as delivered
    assert not c.verify().ok
    assert c.files[target]["status"] == "appended"
    assert c.files[target]["expected_sha256"] == c.files[target]["actual_sha256"]
    with Trail(c.db, read_only=True) as trail:  # ingest read the appended member too
        assert len(trail.sql("select 1 from events where event_id = $i", i=extra["eventID"])) == 1
    (finding,) = c.findings.rows(named=True)
    assert (finding["rule"], finding["severity"]) == ("appended", "high")
    assert extra["eventID"] in finding["evidence_event_ids"]


def test_a_file_changed_after_ingest(case: Callable[..., Case]) -> None:
    """Recompressed: the same content, other bytes than those the database was read from."""
    c = case()
    target = c.listed(c.busy("us-east-1"))[0]
    with Trail(c.db) as trail:
        trail.ingest(c.tree)
    target.write_bytes(gzip.compress(gzip.decompress(target.read_bytes()), compresslevel=1))
    with Trail(c.db) as trail:
        summary = trail.verify(c.tree, public_keys=[c.keys])
        row = trail.sql("select * from integrity_files where path = $p", p=str(target)).row(
            0, named=True
        )
    assert not summary.ok and row["status"] == "changed_since_ingest"


# ---------------------------------------------------------------------------------------------
# the algorithm, as documented


def test_the_string_to_sign_is_the_documented_one() -> None:
    """CloudTrail User Guide, "Custom implementations...", D. Recreate the data signing string:
    digestEndTime, bucket/key, hex SHA-256 of the digest, previous signature; one a line."""
    assert digests.string_to_sign(
        "2015-08-12T04:01:31Z",
        "S3-bucket-name",
        "AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/12/x.json.gz",
        "4ff08d7c6ecd6eb313257e839645d20363ee3784a2328a7d76b99b53cc9bcacd",
        "6e8540b8",
    ) == (
        b"2015-08-12T04:01:31Z\nS3-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/"
        b"2015/08/12/x.json.gz\n4ff08d7c6ecd6eb313257e839645d20363ee3784a2328a7d76b99b53cc9bcacd\n"
        b"6e8540b8"
    )
    # a starting digest's previousDigestSignature is null, signed as the text "null"
    assert digests.string_to_sign("t", "b", "k", "h", None).endswith(b"\nnull")


# The three keys of AWS's sample ListPublicKeys response (the same guide, B. Retrieve the Public
# Key), as `aws cloudtrail list-public-keys` printed them: times as epoch seconds in text.
AWS_SAMPLE_KEYS = {
    "publicKeyList": [
        {
            "ValidityStartTime": "1436317441.0",
            "ValidityEndTime": "1438909441.0",
            "Value": "MIIBCgKCAQEAn11L2YZ9h7onug2ILi1MWyHiMRsTQjfWE+pHVRLk1QjfWhirG+lpOa8NrwQ/r7Ah"
            "5bNL6HepznOU9XTDSfmmnP97mqyc7z/upfZdS/AHhYcGaz7n6Wc/RRBU6VmiPCrAUojuSk6/GjvA8iOPFsYD"
            "uBtviXarvuLPlrT9kAd4Lb+rFfR5peEgBEkhlzc5HuWO7S0y+KunqxX6jQBnXGMtxmPBPP0FylgWGNdFtks/"
            "4YSKcgqwH0YDcawP9GGGDAeCIqPWIXDLG1jOjRRzWfCmD0iJUkz8vTsn4hq/5ZxRFE7UBAUiVcGbdnDdvVfh"
            "F9C3dQiDq3k7adQIziLT0cShgQIDAQAB",
            "Fingerprint": "8eba5db5bea9b640d1c96a77256fe7f2",
        },
        {
            "ValidityStartTime": "1434589370.0",
            "ValidityEndTime": "1437181370.0",
            "Value": "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqlzPJbvZJ42UdcmLfPUqXYNfOs6I8lCf"
            "ao/tOs8CmzPOEdtLWugB9xoIUz78qVHdKIqxbaG4jWHfJBiOSSFBM0lt8cdVo4TnRa7oG9io5pysS6DJhBBA"
            "eXsicufsiFJR+wrUNh8RSLxL4k6G1+BhLX20tJkZ/erT97tDGBujAelqseGg3vPZbTx9SMfOLN65PdLFudLP"
            "7Gat0Z9p5jw/rjpclKfo9Bfc3heeBxWGKwBBOKnFAaN9V57pOaosCvPKmHd9bg7jsQkI9Xp22IzGLsTFJZYV"
            "A3KiTAElDMu80iFXPHEq9hKNbt9e4URFam+1utKVEiLkR2disdCmPTK0VQIDAQAB",
            "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
        },
    ]
}


def test_keys_as_the_aws_cli_prints_them(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps(AWS_SAMPLE_KEYS))
    keys = digests.load_keys([path])
    assert set(keys) == {"8eba5db5bea9b640d1c96a77256fe7f2", "31e8b5433410dfb61a9dc45cc65b22ff"}
    first = keys["8eba5db5bea9b640d1c96a77256fe7f2"]
    assert first.valid_from == dt.datetime(2015, 7, 8, 1, 4, 1, tzinfo=UTC)
    assert first.rsa.key_size == 2048  # PKCS #1 DER; the other is SubjectPublicKeyInfo
    assert keys["31e8b5433410dfb61a9dc45cc65b22ff"].rsa.key_size == 2048
    # CLI v2 prints ISO times
    v2 = {"PublicKeyList": [dict(AWS_SAMPLE_KEYS["publicKeyList"][0])]}
    v2["PublicKeyList"][0]["ValidityEndTime"] = "2015-08-07T01:04:01+00:00"
    path.write_text(json.dumps(v2))
    assert digests.load_keys([path])[first.fingerprint].valid_until == dt.datetime(
        2015, 8, 7, 1, 4, 1, tzinfo=UTC
    )
    # a value that is not the one fingerprinted: the file was edited
    v2["PublicKeyList"][0]["Value"] = base64.b64encode(b"\x30\x00").decode()
    path.write_text(json.dumps(v2))
    with pytest.raises(BadKeys, match="does not match its fingerprint"):
        digests.load_keys([path])
    path.write_text("[]")
    with pytest.raises(BadKeys, match="PublicKeyList"):
        digests.load_keys([path])


def test_public_keys_from_list_public_keys(monkeypatch: pytest.MonkeyPatch, aws: Signer) -> None:
    """boto3's ListPublicKeys, every page, over the digests' signing times with two hours more
    each side (aws-cli's key-rotation fix). botocore's Stubber checks each request against the
    service model; no request leaves the process."""
    import boto3
    from botocore.stub import Stubber

    from trailscope import s3
    from trailscope.synthetic.digests import public_der

    start, end = DAY, DAY + dt.timedelta(hours=3)
    real_client = boto3.session.Session.client
    stubs: list[Stubber] = []

    def client(self: Any, name: str, **kw: Any) -> Any:
        made = real_client(self, name, **kw)
        stub = Stubber(made)
        key = {
            "Value": public_der(aws.key),
            "ValidityStartTime": DAY,
            "ValidityEndTime": DAY + dt.timedelta(days=30),
            "Fingerprint": aws.fingerprint,
        }
        stub.add_response(
            "list_public_keys",
            {"PublicKeyList": [], "NextToken": "page2"},
            {"StartTime": start - dt.timedelta(hours=2), "EndTime": end + dt.timedelta(hours=2)},
        )
        stub.add_response(
            "list_public_keys",
            {"PublicKeyList": [key]},
            {
                "StartTime": start - dt.timedelta(hours=2),
                "EndTime": end + dt.timedelta(hours=2),
                "NextToken": "page2",
            },
        )
        stub.activate()
        stubs.append(stub)
        return made

    monkeypatch.setattr(boto3.session.Session, "client", client)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    found = digests.key_query(
        [
            digests.Digest(
                f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/eu-west-1/2026/10/05/{ACCOUNT}_CloudTrail-"
                f"Digest_eu-west-1_t_us-east-1_20261005T{h:02d}0000Z.json.gz",
                end=DAY + dt.timedelta(hours=h),
            )
            for h in (0, 2)
        ]
    )
    assert found == {"eu-west-1": (start - dt.timedelta(hours=2), end + dt.timedelta(hours=2))}
    region, (lo, hi) = next(iter(found.items()))
    listed = s3.list_public_keys(region, lo, hi)
    (key,) = digests.keys_from_listing({"PublicKeyList": listed}, region)
    assert key.fingerprint == aws.fingerprint and key.valid_from == DAY
    stubs[0].assert_no_pending_responses()


# ---------------------------------------------------------------------------------------------
# the command, the report


def test_the_verify_command(case: Callable[..., Case], tmp_path: Path) -> None:
    c = case()
    runner = CliRunner()
    assert runner.invoke(cli, ["ingest", str(c.tree), "--db", str(c.db), "-q"]).exit_code == 0
    args = ["verify", str(c.tree), "--db", str(c.db)]
    no_keys = runner.invoke(cli, args)
    assert no_keys.exit_code == 1 and "--public-keys" in no_keys.output
    ok = runner.invoke(cli, [*args, "--public-keys", str(c.keys)])
    assert ok.exit_code == 0, ok.output
    assert "log files: 2 unverified, 23 valid" in ok.output
    target = c.listed(c.busy("us-east-1"))[0]
    target.write_bytes(gzip.compress(b'{"Records":[]}'))
    bad = runner.invoke(cli, [*args, "--public-keys", str(c.keys)])
    assert bad.exit_code == 3
    assert f"PROBLEM: modified: {target}" in bad.output


def test_the_report_shows_integrity(
    case: Callable[..., Case], sample_db: Path, golden: Any
) -> None:
    c = case()
    target = c.listed(c.busy("us-east-1"))[0]
    _regzip(target, lambda b: b.replace(b'"eventVersion":"1.', b'"eventVersion":"2.', 1))
    c.verify()
    with Trail(c.db, read_only=True) as trail:
        context = report.build(trail.analysis, report.Scope())
    section = context["integrity"]
    assert section["verified"] and section["files"]["modified"] == 1
    (problem,) = section["problems"]
    assert problem["path"] == str(target) and problem["status"] == "modified"
    html = render.render(context, "html")
    assert '<h2 id="integrity">' in html and str(target) in html
    md = render.render(context, "md")
    assert "## Integrity" in md and "**modified**" in md
    # a database never verified says so: unknown, not fine
    with Trail(sample_db, read_only=True) as trail:
        unverified = report.build(trail.analysis, report.Scope())["integrity"]
    assert unverified == {"verified": False}


def test_a_database_from_before_verify_still_gives_findings(
    tmp_path: Path, sample_db: Path
) -> None:
    """An older database has no integrity tables: the other checks run, the integrity check
    gives nothing."""
    import duckdb

    db = tmp_path / "old.duckdb"
    shutil.copy(sample_db, db)
    con = duckdb.connect(str(db))
    con.sql("drop table integrity_files")
    con.sql("drop table integrity_digests")
    con.close()
    with Trail(db, read_only=True) as trail:
        found = trail.findings()
        assert len(found) and "integrity" not in set(found["check"])
        assert report.build(trail.analysis, report.Scope())["integrity"] == {"verified": False}


# ---------------------------------------------------------------------------------------------
# from S3


def test_verify_from_s3_proves_the_newest_digest_too(
    tmp_path: Path,
    tree: Path,
    aws: Signer,
    endpoint: str,  # noqa: F811 - the fixture imported from tests.test_s3
) -> None:
    """On S3 every digest carries its signature in its metadata, the newest included; a log
    file removed from the bucket is deleted."""
    from tests.test_s3 import _admin

    c = Case(tmp_path, tree, lambda _end: aws, [(aws, *EVER)])
    signatures = {w.path: w.signature for w in c.written}
    gone = c.listed(c.busy("us-east-1"))[0]
    client = _admin(endpoint)
    client.create_bucket(Bucket="trailscope-synthetic")
    for path in sorted(c.tree.rglob("*.json.gz")):
        if path == gone:
            continue
        meta = (
            {"signature": signatures[path], "signature-algorithm": digests.ALGORITHM}
            if path in signatures
            else {}
        )
        client.put_object(
            Bucket="trailscope-synthetic",
            Key=digests.tail(str(path)),
            Body=path.read_bytes(),
            Metadata=meta,
        )
    url = "s3://trailscope-synthetic/"
    with Trail(c.db) as trail:
        assert trail.ingest(url, endpoint_url=endpoint).ok
        summary = trail.verify(url, public_keys=[c.keys], endpoint_url=endpoint)
        files = trail.sql("select status, count(*) as n from integrity_files group by 1")
        statuses = dict(files.iter_rows())
        digest_statuses = set(trail.sql("select status from integrity_digests")["status"])
    assert statuses == {"valid": 24, "deleted": 1}, summary.lines()
    assert digest_statuses == {"valid"}
    (problem,) = summary.problems
    assert problem.startswith(f"deleted: {url}{digests.tail(str(gone))}: ")


def test_digest_bytes_hash_the_first_member_only() -> None:
    one = gzip.compress(b"abc")
    assert digests.first_member(one) == (b"abc", b"")
    assert digests.first_member(one + gzip.compress(b"def")) == (b"abc", gzip.compress(b"def"))
    assert digests.first_member(b"plain") == (b"plain", b"")
    assert (
        hashlib.sha256(digests.first_member(one)[0]).hexdigest()
        == hashlib.sha256(b"abc").hexdigest()
    )


def test_digest_text_is_inert_in_the_report(case: Callable[..., Case]) -> None:
    """A digest's fields are whatever its author wrote: a forged fingerprint reaches the
    report's reasons as text, never as markup."""
    c = case()
    hostile = "<script>document.title='PWNED'</script>|`x`"
    forged = c.busy("us-east-1")
    content = json.loads(gzip.decompress(forged.path.read_bytes()))
    content["digestPublicKeyFingerprint"] = hostile
    forged.path.write_bytes(gzip.compress(json.dumps(content).encode()))
    assert not c.verify().ok
    with Trail(c.db, read_only=True) as trail:
        context = report.build(trail.analysis, report.Scope())
    assert any(hostile.lower() in p["reason"] for p in context["integrity"]["problems"])
    html = render.render(context, "html")
    assert "<script>document" not in html and "&lt;script&gt;document" in html
    md = render.render(context, "md")
    assert "<script>" not in md and "\\|\\`x\\`" in md


def test_sources_without_digests_are_a_clear_error(tree: Path, tmp_path: Path) -> None:
    with Trail(tmp_path / "t.duckdb") as trail:
        trail.ingest(tree)
        with pytest.raises(BadSource, match="no CloudTrail digest files under"):
            trail.verify(tree)


def _digest(
    signer_: Signer,
    key: str,
    start: dt.datetime,
    previous: tuple[str, str, str] | None,
    meta: dict[str, str],
) -> tuple[digests.Digest, str, str]:
    """A digest as read from s3://b/<key>, signed as CloudTrail signs, its metadata holding its
    signature and `meta`; with its signature and SHA-256."""
    end = start + dt.timedelta(hours=1)
    content = {
        "digestStartTime": digests.iso(start),
        "digestEndTime": digests.iso(end),
        "digestS3Bucket": "b",
        "digestS3Object": key,
        "digestPublicKeyFingerprint": signer_.fingerprint,
        "digestSignatureAlgorithm": "SHA256withRSA",
        "previousDigestS3Bucket": "b" if previous else None,
        "previousDigestS3Object": previous[0] if previous else None,
        "previousDigestHashValue": previous[2] if previous else None,
        "previousDigestSignature": previous[1] if previous else None,
        "logFiles": [],
    }
    text = json.dumps(content).encode()
    sha = hashlib.sha256(text).hexdigest()
    message = digests.string_to_sign(
        digests.iso(end), "b", key, sha, previous[1] if previous else None
    )
    signature = digests.sign(signer_.key, message)
    metadata = {"signature": signature, "signature-algorithm": "SHA256withRSA", **meta}
    return digests.parse(f"s3://b/{key}", gzip.compress(text), metadata), signature, sha


def test_backfill_digests_chain_apart_and_are_signed_when_generated(aws: Signer) -> None:
    """Backfill digests (`_backfill`) come later for hours a digest already covered, and chain
    among themselves; their key is the one valid when they were generated (their object's
    backfill-generation-timestamp), as aws-cli's validate-logs takes it."""
    folder = f"AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/10/05/"

    def key(hour: int, backfill: bool = False) -> str:
        suffix = "_backfill" if backfill else ""
        stamp = f"20261005T{hour:02d}0000Z"
        return f"{folder}{ACCOUNT}_CloudTrail-Digest_us-east-1_t_us-east-1_{stamp}{suffix}.json.gz"

    late = DAY + dt.timedelta(hours=20)
    keys = {aws.fingerprint: digests.keys_from_listing(listing([(aws, late, EVER[1])]), "t")[0]}
    generated = {"backfill-generation-timestamp": digests.iso(late + dt.timedelta(hours=1))}
    b1, sig1, sha1 = _digest(aws, key(2, True), DAY + dt.timedelta(hours=1), None, generated)
    b2, _, _ = _digest(
        aws, key(4, True), DAY + dt.timedelta(hours=3), (b1.key, sig1, sha1), generated
    )
    regular, _, _ = _digest(aws, key(2), DAY + dt.timedelta(hours=1), None, {})
    found = digests.check_chain(
        [b1, b2, regular], keys, from_s3=dict.fromkeys((b1.path, b2.path, regular.path), True)
    )
    by_path = {r.path: r for r in found}
    assert (by_path[b1.path].status, by_path[b1.path].link) == ("valid", "start")
    assert (by_path[b2.path].status, by_path[b2.path].link) == ("valid", "linked")
    # the same key at a regular digest's own end time: not valid yet
    assert by_path[regular.path].status == "key_not_valid"
    assert b1.group != regular.group and b1.backfill and not regular.backfill

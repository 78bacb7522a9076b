"""trailscope.s3 against a real S3-compatible server: moto's standalone server, started here as a
subprocess on loopback. Nothing in this process is mocked: every request goes over HTTP."""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.logs import ORG, delivery_bytes, sample_records
from trailscope import formats, s3
from trailscope.errors import BadSource
from trailscope.sources import NOT_EVENT_FOLDERS, Candidate, Filters, discover

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None,
    reason="needs moto[server] and boto3, from the test extras: pip install -e '.[test]'",
)

ACCOUNTS = ("111111111111", "222222222222", "333333333333")
REGIONS = ("eu-west-1", "us-east-1")
DAYS = ("2026-10-13", "2026-10-14", "2026-10-15", "2026-10-16")
LONE = "444444444444"  # an account's own trail, beside the organization trail
DIGEST = NOT_EVENT_FOLDERS["CloudTrail-Digest"]
INSIGHT = NOT_EVENT_FOLDERS["CloudTrail-Insight"]


# ---------------------------------------------------------------------------------------------
# the server and the buckets


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Fake credentials, no AWS config of the machine's, no proxy, no instance metadata."""
    home = tmp_path_factory.mktemp("aws")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("AWS_") or name.lower() in (
                "http_proxy",
                "https_proxy",
                "all_proxy",
            ):
                mp.delenv(name)
        mp.setenv("AWS_ACCESS_KEY_ID", "testing")
        mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask 169.254.169.254
        mp.setenv("AWS_CONFIG_FILE", str(home / "config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
        mp.setenv("NO_PROXY", "127.0.0.1,localhost")
        yield home


@pytest.fixture(scope="module")
def endpoint(aws_env: Path) -> Iterator[str]:
    """http://127.0.0.1:PORT of a moto server run for this module."""
    port = _free_port()
    log = (aws_env / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                opener.open(f"{url}/moto-api/data.json", timeout=1).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(
                        "moto server did not start: " + (aws_env / "moto.log").read_text()[-2000:]
                    )
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _admin(endpoint: str, service: str = "s3") -> Any:
    import boto3

    make: Any = boto3.client
    return make(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def _moto_auth(endpoint: str, unauthenticated: str) -> None:
    """Switch moto's IAM enforcement on ("0") or off ("inf")."""
    request = urllib.request.Request(
        f"{endpoint}/moto-api/reset-auth",
        method="POST",
        data=unauthenticated.encode(),
        headers={"Content-Type": "text/plain"},
    )
    urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request).read()


def _key(
    account: str,
    region: str,
    day: str,
    n: int,
    *,
    org: str | None = ORG,
    service: str = "CloudTrail",
    prefix: str = "",
) -> str:
    y, m, d = day.split("-")
    folder = f"{prefix}AWSLogs/{org + '/' if org else ''}{account}/{service}/{region}/{y}/{m}/{d}"
    return f"{folder}/{account}_{service}_{region}_{y}{m}{d}T12{n % 60:02d}Z_{n:04x}.json.gz"


def _delivery(n: int) -> bytes:
    """A delivery file: three records of the sample organization, different ones for each n."""
    return gzip.compress(delivery_bytes(list(sample_records()[3 * n : 3 * n + 3])), mtime=0)


def _org_tree() -> dict[str, bytes]:
    """An organization trail bucket: 3 accounts x 2 regions x 4 days, digests for one account,
    an Insights file, an account trail beside the organization's, a hidden file."""
    tree: dict[str, bytes] = {}
    n = 0
    for account in ACCOUNTS:
        for region in REGIONS:
            for day in DAYS:
                tree[_key(account, region, day, n)] = _delivery(n)
                n += 1
    digest = gzip.compress(json.dumps({"awsAccountId": ACCOUNTS[0], "logFiles": []}).encode())
    for region in REGIONS:
        for day in DAYS:
            tree[_key(ACCOUNTS[0], region, day, 0, service="CloudTrail-Digest")] = digest
    insight = {"eventVersion": "1.07", "eventType": "AwsCloudTrailInsight", "eventID": "x"}
    tree[_key(ACCOUNTS[1], "us-east-1", "2026-10-14", 0, service="CloudTrail-Insight")] = (
        gzip.compress(delivery_bytes([insight]))
    )
    tree[_key(LONE, "us-east-1", "2026-10-14", 40, org=None)] = _delivery(40)
    hidden = _key(ACCOUNTS[0], "us-east-1", "2026-10-14", 0).rsplit("/", 1)[0] + "/.hidden"
    tree[hidden] = b"{}"
    return tree


def _mixed_tree() -> dict[str, bytes]:
    """A shared bucket: the layout below a prefix, and files outside it."""
    return {
        _key(ACCOUNTS[0], "us-east-1", "2026-10-14", 41, org=None, prefix="exports/"): _delivery(
            41
        ),
        _key(ACCOUNTS[0], "us-east-1", "2026-10-20", 42, org=None, prefix="exports/"): _delivery(
            42
        ),
        _key(ACCOUNTS[1], "eu-west-1", "2026-10-14", 43, org=None, prefix="exports/"): _delivery(
            43
        ),
        "notes/readme.txt": b"where the exports came from",
        "top.json": delivery_bytes(list(sample_records()[200:201])),
    }


def _put_tree(endpoint: str, bucket: str, tree: dict[str, bytes]) -> None:
    client = _admin(endpoint)
    client.create_bucket(Bucket=bucket)
    for key, data in tree.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)


@pytest.fixture(scope="module")
def buckets(endpoint: str) -> str:
    """The endpoint, with buckets org-trail and mixed filled."""
    _put_tree(endpoint, "org-trail", _org_tree())
    _put_tree(endpoint, "mixed", _mixed_tree())
    return endpoint


def _keys(candidates: list[Candidate]) -> list[str]:
    return [c.path.split("/", 3)[3] for c in candidates]


# ---------------------------------------------------------------------------------------------
# URLs


def test_s3_urls_are_recognised_and_split() -> None:
    assert s3.is_s3("s3://bucket/AWSLogs/") and s3.is_s3("S3://bucket")
    assert not s3.is_s3("/data/AWSLogs") and not s3.is_s3("s3:/bucket")
    assert s3.split_url("s3://bucket/AWSLogs/o-a1b2c3d4e5/") == ("bucket", "AWSLogs/o-a1b2c3d4e5/")
    assert s3.split_url("s3://bucket") == ("bucket", "")
    with pytest.raises(BadSource, match="no bucket in 's3:///x'"):
        s3.split_url("s3:///x")


def test_the_listed_day_range_is_what_filters_keep() -> None:
    f = Filters.make(since="2026-10-14", until="2026-10-14T08:00:00Z")
    # the folder of the 15th may hold the end of the 14th: Filters.keeps' one-day margin
    assert s3.day_window(f) == (dt.date(2026, 10, 14), dt.date(2026, 10, 15))
    assert s3.day_window(Filters.make(until="2026-12-31")) == (None, dt.date(2027, 1, 1))
    assert s3.day_window(Filters.make(since="2026-10-14")) == (dt.date(2026, 10, 14), None)
    assert s3.day_window(Filters.make()) == (None, None)


# ---------------------------------------------------------------------------------------------
# pruning


def test_one_account_one_region_one_day_lists_and_reads_only_that(buckets: str) -> None:
    stats = s3.S3Stats()
    f = Filters.make(
        account=[ACCOUNTS[0]], region=["us-east-1"], since="2026-10-14", until="2026-10-14"
    )
    found = list(s3.discover_s3("s3://org-trail/", f, endpoint_url=buckets, stats=stats))
    base = f"AWSLogs/{ORG}/{ACCOUNTS[0]}/"
    # the bucket root and AWSLogs/ (which may hold org folders and account folders), then the
    # account named directly (its folders: CloudTrail, CloudTrail-Digest), then one key range
    # per region folder: the 14th and the 15th, whose folder may hold the end of the 14th
    assert sorted(stats.listed) == sorted(
        [
            "",
            "AWSLogs/",
            base,
            base + "CloudTrail/us-east-1/",
            base + "CloudTrail-Digest/us-east-1/",
        ]
    )
    events = [
        _key(ACCOUNTS[0], "us-east-1", day, n) for n, day in ((5, "2026-10-14"), (6, "2026-10-15"))
    ]
    digests = [
        _key(ACCOUNTS[0], "us-east-1", day, 0, service="CloudTrail-Digest")
        for day in ("2026-10-14", "2026-10-15")
    ]
    hidden = events[0].rsplit("/", 1)[0] + "/.hidden"
    assert _keys(found) == sorted([*events, *digests, hidden])
    assert {k: c.skip for k, c in zip(_keys(found), found, strict=True) if c.skip} == {
        digests[0]: DIGEST,
        digests[1]: DIGEST,
        hidden: "hidden file",
    }
    got = list(s3.fetch(found, endpoint_url=buckets, stats=stats))
    assert [c for c, _, _ in got] == found
    assert stats.fetched == events  # digests and the hidden file are not downloaded
    assert stats.requests == Counter({"ListObjectsV2": 5, "GetObject": 2})
    for cand, data, reason in got:
        if not cand.skip:
            assert reason is None and data is not None
            assert len(data) == cand.size and stats.bytes_fetched >= cand.size
            (chunk,) = formats.read_bytes(data).chunks
            assert chunk.spans is not None and len(chunk.spans[0]) == 3


def test_without_filters_the_bucket_is_listed_flat(buckets: str) -> None:
    stats = s3.S3Stats()
    found = list(s3.discover_s3("s3://org-trail", Filters(), endpoint_url=buckets, stats=stats))
    assert _keys(found) == sorted(_org_tree())
    # "s3://org-trail" names the bucket root: one call, no walking folder by folder
    assert stats.listed == [""] and stats.requests == Counter({"ListObjectsV2": 1})
    assert all(c.etag and c.mtime > 1e9 for c in found)
    assert Counter(c.skip for c in found) == Counter(
        {None: 25, DIGEST: 8, INSIGHT: 1, "hidden file": 1}
    )


FILTERS = {
    "none": {},
    "account": {"account": [ACCOUNTS[1]]},
    "region": {"region": ["eu-west-1"]},
    "since": {"since": "2026-10-15"},
    "until": {"until": "2026-10-13"},
    "day": {"since": "2026-10-14", "until": "2026-10-14"},
    "all": {"account": [ACCOUNTS[0], LONE], "region": ["us-east-1"], "since": "2026-10-16"},
    "later": {"since": "2026-10-30"},
    "elsewhere": {"account": ["999999999999"]},
}
ROOTS = [
    "org-trail/AWSLogs/",
    f"org-trail/AWSLogs/{ORG}/",
    f"org-trail/AWSLogs/{ORG}/{ACCOUNTS[0]}/CloudTrail/us-east-1/2026/",
    f"org-trail/AWSLogs/{ORG}/{ACCOUNTS[0]}",
    "mixed/",
    "mixed/exports",
]
# every filter on the bucket root, every root under no filter and under two, and a few with
# two keys a page, so that every folder takes several ListObjectsV2 pages
AGREE = (
    [("org-trail/", name, 1000) for name in FILTERS]
    + [(root, name, 1000) for root in ROOTS for name in ("none", "day", "all")]
    + [("org-trail/", name, 2) for name in ("none", "since", "all")]
    + [("mixed/exports", "day", 2)]
)


@pytest.fixture(scope="module")
def local_trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The buckets' trees as folders: <root>/org-trail/..., <root>/mixed/..."""
    root = tmp_path_factory.mktemp("trees")
    for bucket, tree in (("org-trail", _org_tree()), ("mixed", _mixed_tree())):
        for key, data in tree.items():
            path = root / bucket / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


@pytest.mark.parametrize("root,name,page_keys", AGREE)
def test_s3_and_local_discovery_keep_the_same_files(
    buckets: str,
    local_trees: Path,
    monkeypatch: pytest.MonkeyPatch,
    root: str,
    name: str,
    page_keys: int,
) -> None:
    """The same tree in a bucket and in a folder, the same filters: the same files, skipped for
    the same reasons (sources.discover is the reference)."""
    monkeypatch.setattr(s3, "PAGE_KEYS", page_keys)
    f = Filters.make(**FILTERS[name])  # type: ignore[arg-type]
    stats = s3.S3Stats()
    remote = list(s3.discover_s3(f"s3://{root}", f, endpoint_url=buckets, stats=stats))
    bucket = root.split("/")[0]
    local = [
        (Path(c.path).relative_to(local_trees / bucket).as_posix(), c.skip)
        for c in discover([str(local_trees / root)], f)
    ]
    assert sorted((k, c.skip) for k, c in zip(_keys(remote), remote, strict=True)) == sorted(local)
    assert _keys(remote) == sorted(_keys(remote))  # in key order
    assert set(stats.requests) <= {"ListObjectsV2"}  # nothing downloaded to decide
    if page_keys == 2 and name == "none":
        assert stats.requests["ListObjectsV2"] == (len(_org_tree()) + 1) // 2


def test_a_date_question_lists_only_its_days(buckets: str) -> None:
    """All accounts and regions, one day: a key range in each region folder, never a page of
    another day's keys (bar the one-day margin)."""
    stats = s3.S3Stats()
    f = Filters.make(since="2026-10-16", until="2026-10-16")
    found = list(s3.discover_s3("s3://org-trail/", f, endpoint_url=buckets, stats=stats))
    assert {k.split("/")[-2] for k in _keys(found)} == {"16"}
    # root, AWSLogs/, the org folder; per account its service folders; per service folder its
    # regions; one range per region folder: 3 + (3 + 1) + (5 + 1) + (9 + 1)
    assert len(stats.listed) == 23 and stats.requests == Counter({"ListObjectsV2": 23})
    assert sum(p.rstrip("/").rsplit("/", 1)[-1] in REGIONS for p in stats.listed) == 10


# ---------------------------------------------------------------------------------------------
# incremental


def test_a_rerun_fetches_only_new_or_changed_objects(endpoint: str) -> None:
    client = _admin(endpoint)
    client.create_bucket(Bucket="incremental")
    keys = [_key(ACCOUNTS[2], "us-east-1", "2026-10-14", n, org=None) for n in range(50, 53)]
    for n, key in enumerate(keys):
        client.put_object(Bucket="incremental", Key=key, Body=_delivery(50 + n))
    manifest: dict[tuple[str, int, float], str | None] = {}

    def run() -> tuple[list[Candidate], s3.S3Stats]:
        stats = s3.S3Stats()
        found = s3.discover_s3("s3://incremental/", Filters(), endpoint_url=endpoint, stats=stats)
        new = [c for c in found if (c.path, c.size, c.mtime) not in manifest]
        for cand, data, reason in s3.fetch(new, endpoint_url=endpoint, stats=stats):
            assert data is not None and reason is None
            manifest[(cand.path, cand.size, cand.mtime)] = cand.etag
        return new, stats

    new, stats = run()
    assert len(new) == 3 and stats.requests == Counter({"ListObjectsV2": 1, "GetObject": 3})
    new, stats = run()
    assert new == [] and stats.requests == Counter({"ListObjectsV2": 1})
    added = _key(ACCOUNTS[2], "us-east-1", "2026-10-15", 53, org=None)
    client.put_object(Bucket="incremental", Key=added, Body=_delivery(53))
    client.put_object(Bucket="incremental", Key=keys[1], Body=_delivery(60) + b"\n")
    new, stats = run()
    assert _keys(new) == [keys[1], added]
    assert stats.requests == Counter({"ListObjectsV2": 1, "GetObject": 2})
    etags = {e for (p, _, _), e in manifest.items() if p.endswith(keys[1])}
    assert len(etags) == 2  # the old and the new version of the changed object


# ---------------------------------------------------------------------------------------------
# failures


def test_a_bad_object_is_reported_and_the_others_are_read(endpoint: str) -> None:
    """Denied by a bucket policy, deleted or overwritten after listing, in Glacier, truncated
    gzip: each is a reason (or bytes that formats rejects), in order; the good ones are read."""
    client = _admin(endpoint)
    client.create_bucket(Bucket="guarded")
    day = "2026-10-14"
    names = {
        "good": 70,
        "denied": 71,
        "corrupt": 72,
        "vanished": 73,
        "changed": 74,
        "archived": 75,
        "last": 76,
    }
    key = {name: _key(ACCOUNTS[0], "us-east-1", day, n, org=None) for name, n in names.items()}
    for name, n in names.items():
        data = _delivery(n)
        client.put_object(
            Bucket="guarded",
            Key=key[name],
            Body=data[: len(data) // 2] if name == "corrupt" else data,
            StorageClass="GLACIER" if name == "archived" else "STANDARD",
        )
    digest = _key(ACCOUNTS[0], "us-east-1", day, 0, org=None, service="CloudTrail-Digest")
    client.put_object(Bucket="guarded", Key=digest, Body=b"{}")
    found = list(s3.discover_s3("s3://guarded/", Filters(), endpoint_url=endpoint))
    assert len(found) == 8
    client.delete_object(Bucket="guarded", Key=key["vanished"])
    client.put_object(Bucket="guarded", Key=key["changed"], Body=_delivery(90))
    client.put_bucket_policy(
        Bucket="guarded",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::guarded/{key['denied']}",
                    }
                ],
            }
        ),
    )
    stats = s3.S3Stats()
    local = Candidate("/var/log/trail.json", 10, 0.0)  # not S3: passed through for the caller
    got = list(s3.fetch([*found, local], endpoint_url=endpoint, workers=3, stats=stats))
    assert [c for c, _, _ in got] == [*found, local] and got.pop() == (local, None, None)
    by_key = dict(zip(_keys(found), got, strict=True))
    url = {name: f"s3://guarded/{k}" for name, k in key.items()}
    assert by_key[key["denied"]][1:] == (
        None,
        (
            f"access denied: {url['denied']} (the caller needs s3:GetObject, and kms:Decrypt if "
            f"the trail uses SSE-KMS)"
        ),
    )
    assert by_key[key["vanished"]][1:] == (
        None,
        f"gone: {url['vanished']} was deleted after it was listed",
    )
    assert by_key[key["changed"]][1:] == (
        None,
        f"changed since it was listed: {url['changed']}; run ingest again",
    )
    assert by_key[digest][1:] == (None, None)  # a skipped candidate: no request
    corrupt = by_key[key["corrupt"]][1]
    assert corrupt is not None and len(corrupt) == by_key[key["corrupt"]][0].size
    error = formats.read_bytes(corrupt).error
    assert error is not None and error.startswith("truncated or corrupt gzip")
    for name in ("good", "last"):
        _, good, reason = by_key[key[name]]
        assert reason is None and good is not None
        assert formats.read_bytes(good).error is None
    assert by_key[key["archived"]][1:] == (
        None,
        (
            f"archived: {url['archived']} is in an archive storage class (Glacier or Deep Archive); "
            f"restore it, then run ingest again"
        ),
    )
    assert stats.requests["GetObject"] == 7 and digest not in stats.fetched


def test_credentials_moto_rejects_and_an_iam_denial(
    endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With moto's IAM enforcement on: unknown keys stop the run with a clear message; a user
    whose policy denies one object gets S3's real AccessDenied for it, and the rest."""
    client = _admin(endpoint)
    client.create_bucket(Bucket="locked")
    allowed = _key(ACCOUNTS[0], "us-east-1", "2026-10-14", 80, org=None)
    denied = _key(ACCOUNTS[0], "us-east-1", "2026-10-14", 81, org=None)
    for n, key in enumerate((allowed, denied)):
        client.put_object(Bucket="locked", Key=key, Body=_delivery(80 + n))
    found = list(s3.discover_s3("s3://locked/", Filters(), endpoint_url=endpoint))
    iam = _admin(endpoint, "iam")
    iam.create_user(UserName="responder")
    iam.put_user_policy(
        UserName="responder",
        PolicyName="read-trail",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {
                        "Effect": "Deny",
                        "Action": "s3:GetObject",
                        "Resource": f"arn:aws:s3:::locked/{denied}",
                    },
                ],
            }
        ),
    )
    access = iam.create_access_key(UserName="responder")["AccessKey"]
    _moto_auth(endpoint, "0")
    try:
        with pytest.raises(BadSource) as e:
            list(s3.discover_s3("s3://locked/", Filters(), endpoint_url=endpoint))
        assert str(e.value).startswith(
            "AWS credentials rejected (InvalidAccessKeyId) while listing s3://locked/: they "
            "have expired or are wrong; refresh them"
        )
        with pytest.raises(BadSource) as e:  # mid-run: the run stops, naming the object
            list(s3.fetch(found, endpoint_url=endpoint))
        assert str(e.value).startswith(
            f"AWS credentials rejected (InvalidAccessKeyId) while reading {found[0].path}: "
        )
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
        got = {c.path: (data, reason) for c, data, reason in s3.fetch(found, endpoint_url=endpoint)}
    finally:
        _moto_auth(endpoint, "inf")
    assert got[f"s3://locked/{denied}"] == (
        None,
        (
            f"access denied: s3://locked/{denied} (the caller needs s3:GetObject, and kms:Decrypt "
            f"if the trail uses SSE-KMS)"
        ),
    )
    data, reason = got[f"s3://locked/{allowed}"]
    assert reason is None and data == _delivery(80)


def test_a_missing_bucket_stops_the_run_with_a_clear_message(endpoint: str) -> None:
    message = (
        f"no such bucket: no-such-trail-bucket (at {endpoint}): check the name; a trail's "
        f"bucket is shown by `aws cloudtrail describe-trails`"
    )
    with pytest.raises(BadSource) as e:
        list(s3.discover_s3("s3://no-such-trail-bucket/AWSLogs/", Filters(), endpoint_url=endpoint))
    assert str(e.value) == message
    lost = Candidate("s3://no-such-trail-bucket/AWSLogs/x.json.gz", 10, 0.0, etag="abc")
    with pytest.raises(BadSource) as e:
        list(s3.fetch([lost], endpoint_url=endpoint))
    assert str(e.value) == message


def test_nothing_at_the_url_is_a_clear_error(buckets: str) -> None:
    with pytest.raises(
        BadSource,
        match=r"^nothing in s3://org-trail/AWSLogs/o-zzzzzzzzzz/: no "
        r"key starts with that prefix \(CloudTrail keys look",
    ):
        list(
            s3.discover_s3("s3://org-trail/AWSLogs/o-zzzzzzzzzz/", Filters(), endpoint_url=buckets)
        )
    with pytest.raises(
        BadSource,
        match=r"^nothing at s3://org-trail/AWSLog: no object of that "
        r"name and no folder below it$",
    ):
        list(s3.discover_s3("s3://org-trail/AWSLog", Filters(), endpoint_url=buckets))
    one = _key(ACCOUNTS[2], "eu-west-1", "2026-10-13", 16)
    found = list(
        s3.discover_s3(f"s3://org-trail/{one}", Filters.make(account=[LONE]), endpoint_url=buckets)
    )
    assert _keys(found) == [one]  # a named object is read whatever the filters, as a named file


def test_an_endpoint_refusing_connections_is_a_clear_error(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "MAX_ATTEMPTS", 2)  # one retry, to keep the test short
    dead = f"http://127.0.0.1:{_free_port()}"
    stats = s3.S3Stats()
    with pytest.raises(BadSource) as e:
        list(s3.discover_s3("s3://org-trail/", Filters(), endpoint_url=dead, stats=stats))
    assert str(e.value).startswith(
        f"cannot connect to S3 at {dead} while listing "
        f"s3://org-trail/: Could not connect to the endpoint URL"
    )
    assert str(e.value).endswith("(check --endpoint-url, the network and any proxy)")
    assert stats.requests == Counter({"ListObjectsV2": 2})  # retried, then gave up
    with pytest.raises(
        BadSource,
        match=rf"^cannot connect to S3 at {dead} while reading "
        r"s3://org-trail/AWSLogs/x\.json\.gz: ",
    ):
        list(s3.fetch([Candidate("s3://org-trail/AWSLogs/x.json.gz", 1, 0.0)], endpoint_url=dead))


def test_credentials_come_from_the_chain_or_a_named_profile(
    buckets: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    with pytest.raises(
        BadSource,
        match=r"^no usable AWS credentials \(Unable to locate "
        r"credentials\): pass --profile, set AWS_PROFILE",
    ):
        list(s3.discover_s3("s3://org-trail/", Filters(), endpoint_url=buckets))
    (tmp_path / "config").write_text("[profile responder]\nregion = us-east-1\n")
    (tmp_path / "credentials").write_text(
        "[responder]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    found = list(
        s3.discover_s3(
            "s3://org-trail/",
            Filters.make(account=[LONE]),
            endpoint_url=buckets,
            profile="responder",
        )
    )
    assert len(found) == 1
    with pytest.raises(
        BadSource,
        match=r"^no AWS profile named 'nobody' \(see `aws configure "
        r"list-profiles`",
    ):
        list(s3.discover_s3("s3://org-trail/", Filters(), endpoint_url=buckets, profile="nobody"))


def test_fetch_reads_a_bounded_amount_ahead(buckets: str) -> None:
    found = [
        c for c in s3.discover_s3("s3://org-trail/", Filters(), endpoint_url=buckets) if not c.skip
    ]
    pulled = 0

    def given() -> Iterator[Candidate]:
        nonlocal pulled
        for cand in found:
            pulled += 1
            yield cand

    by_bytes = s3.fetch(given(), endpoint_url=buckets, workers=4, ahead_bytes=1)
    assert next(by_bytes)[0] == found[0] and pulled == 1  # one object over the budget: one
    del by_bytes  # closes the generator: its pending downloads are cancelled
    pulled = 0
    by_count = s3.fetch(given(), endpoint_url=buckets, workers=2)
    first = next(by_count)
    assert first[0] == found[0] and pulled == 4  # 2 x workers
    rest = list(by_count)
    assert [c for c, _, _ in [first, *rest]] == found
    assert all(data is not None and reason is None for _, data, reason in rest)


EXPLAINED = {
    "ExpiredToken": (
        True,
        (
            "AWS credentials rejected (ExpiredToken) while reading s3://b/k: they have expired or "
            "are wrong; refresh them (`aws sso login --profile ir`, a new session, or another "
            "--profile) and run ingest again: what was already stored is kept"
        ),
    ),
    "SlowDown": (
        False,
        ("S3 still throttling (SlowDown) after 6 attempts: s3://b/k; run ingest again later"),
    ),
    "KMS.DisabledException": (
        False,
        (
            "cannot decrypt: s3://b/k (SSE-KMS: the caller needs kms:Decrypt on the trail's key; "
            "KMS.DisabledException: key disabled)"
        ),
    ),
    "PermanentRedirect": (
        True,
        (
            "the bucket of s3://b/k is not in region us-east-1 (PermanentRedirect): it is in "
            "eu-west-1: use --region eu-west-1 or AWS_REGION=eu-west-1"
        ),
    ),
    "RequestTimeTooSkewed": (
        True,
        (
            "this machine's clock is more than 15 minutes off, so S3 refuses the requests: set the "
            "clock (NTP) and run ingest again"
        ),
    ),
    "InternalError": (False, "S3 error InternalError: key disabled: s3://b/k"),
}


@pytest.mark.parametrize("code", sorted(EXPLAINED))
def test_errors_moto_cannot_produce_are_explained(code: str) -> None:
    """What S3 answers in cases moto does not model (expired session tokens, throttling after
    the retries, SSE-KMS, another region, clock skew), shaped as botocore hands it over."""
    from botocore.exceptions import ClientError

    response: Any = {
        "Error": {"Code": code, "Message": "key disabled"},
        "ResponseMetadata": {"HTTPHeaders": {"x-amz-bucket-region": "eu-west-1"}},
    }
    error = ClientError(response, "GetObject")
    where = s3._Where("https://s3.amazonaws.com", "us-east-1", "ir")
    assert s3._explain(error, "s3://b/k", where, listing=False) == EXPLAINED[code]


# ---------------------------------------------------------------------------------------------
# end to end: trailscope ingest s3://...


def test_ingest_from_s3_end_to_end(endpoint: str, tmp_path: Path) -> None:
    """Through the library and the CLI: pruning, the manifest by key and ETag, a denied object
    rejected and retried once readable, a corrupt object rejected, the good ones stored."""
    client = _admin(endpoint)
    client.create_bucket(Bucket="e2e")
    keys = {n: _key(ACCOUNTS[0], "us-east-1", "2026-10-14", n) for n in range(100, 105)}
    keys[105] = _key(ACCOUNTS[1], "us-east-1", "2026-10-14", 105)  # pruned by --account
    for n, key in keys.items():
        data = _delivery(n)
        client.put_object(Bucket="e2e", Key=key, Body=data[:40] if n == 103 else data)
    deny = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:GetObject",
                "Resource": f"arn:aws:s3:::e2e/{keys[104]}",
            }
        ],
    }
    client.put_bucket_policy(Bucket="e2e", Policy=json.dumps(deny))
    from trailscope.trail import Trail

    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest("s3://e2e/", account=[ACCOUNTS[0]], endpoint_url=endpoint)
        assert (s.files_seen, s.files_read, s.files_rejected, s.stored) == (5, 5, 2, 9)
        reasons = dict(
            trail.con.sql(
                "select f.path, r.reason from rejected r join files f using (file_id)"
            ).fetchall()
        )
        assert reasons[f"s3://e2e/{keys[104]}"].startswith("access denied: s3://e2e/")
        assert reasons[f"s3://e2e/{keys[103]}"].startswith("truncated or corrupt gzip")
        etags = trail.con.sql("select count(etag) from files").fetchall()[0][0]
        assert etags == 5
        client.delete_bucket_policy(Bucket="e2e")
        again = trail.ingest("s3://e2e/", account=[ACCOUNTS[0]], endpoint_url=endpoint)
        # the denied object's bytes were never read, so it is tried again; nothing else is
        assert (again.files_already, again.files_read, again.stored) == (4, 1, 3)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "trailscope",
            "ingest",
            "s3://e2e/",
            "--db",
            str(tmp_path / "cli.duckdb"),
            "--endpoint-url",
            endpoint,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 3, out.stderr  # the corrupt object is still rejected
    assert "records: 15 read, 15 stored" in out.stderr


def test_credentials_expiring_mid_run_keep_what_was_read(
    endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The credentials stop working part-way (moto's IAM enforcement switched on, so the key
    in use is refused as S3 refuses an expired one): the run stops with one message saying
    what it kept, every object read before is stored (the batch being filled too), and a
    re-run with working credentials reads exactly the rest."""
    from trailscope import ingest
    from trailscope.ingest import IngestStopped
    from trailscope.trail import Trail

    client = _admin(endpoint)
    client.create_bucket(Bucket="expiring")
    n_objects = 150  # more than downloading and reading keep ahead of the loader
    for n in range(n_objects):
        key = _key(ACCOUNTS[2], "eu-west-1", "2026-10-15", 200 + n, org=None)
        client.put_object(Bucket="expiring", Key=key, Body=_delivery(200 + n))
    monkeypatch.setattr(ingest, "BATCH_FILES", 5)
    batches = 0

    def expire(**_: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            _moto_auth(endpoint, "0")

    db = tmp_path / "t.duckdb"
    try:
        with Trail(db) as trail, pytest.raises(IngestStopped) as stopped:
            trail.ingest("s3://expiring/", endpoint_url=endpoint, commit_rows=1, progress=expire)
    finally:
        _moto_auth(endpoint, "inf")
    summary = stopped.value.summary
    assert str(stopped.value).startswith("AWS credentials rejected (InvalidAccessKeyId) while ")
    assert f"this run committed {summary.files_read} files whole" in str(stopped.value)
    with Trail(db) as trail:
        files, events = trail.con.sql(
            "select (select count(*) from files), (select count(*) from events)"
        ).fetchall()[0]
        assert 10 <= files < n_objects and (files, events) == (summary.files_read, 3 * files)
        again = trail.ingest("s3://expiring/", endpoint_url=endpoint)
        assert (again.files_already, again.stored) == (files, 3 * (n_objects - files))
        assert trail.con.sql("select count(*) from events").fetchall() == [(3 * n_objects,)]


def test_objects_come_with_their_metadata_digests_included(endpoint: str) -> None:
    """A CloudTrail digest's own signature is in its object's metadata (x-amz-meta-signature):
    fetch_with_metadata hands it over, and fetches the digest discovery marks skipped; fetch
    still passes skipped candidates through unread."""
    client = _admin(endpoint)
    client.create_bucket(Bucket="signed")
    digest_key = _key(ACCOUNTS[0], "us-east-1", DAYS[0], 7, service="CloudTrail-Digest")
    client.put_object(
        Bucket="signed",
        Key=digest_key,
        Body=b"digest",
        Metadata={"signature": "ab12", "signature-algorithm": "SHA256withRSA"},
    )
    client.put_object(Bucket="signed", Key=_key(ACCOUNTS[0], "us-east-1", DAYS[0], 8), Body=b"x")
    found = list(s3.discover_s3("s3://signed/", Filters(), endpoint_url=endpoint))
    assert [c.skip for c in found] == [DIGEST, None]  # key order: "CloudTrail-" < "CloudTrail/"
    got = list(s3.fetch_with_metadata(found, endpoint_url=endpoint))
    assert [(data, meta) for _, data, meta, _ in got] == [
        (b"digest", {"signature": "ab12", "signature-algorithm": "SHA256withRSA"}),
        (b"x", {}),
    ]
    assert [data for _, data, _ in s3.fetch(found, endpoint_url=endpoint)] == [None, b"x"]

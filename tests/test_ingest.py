"""Ingest on real DuckDB files, real gzip and every real dataset of ../shared/data/real."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import real
from tests.logs import delivery_bytes, invictus_records, sample_records, write_delivery
from trailscope import ingest, schema
from trailscope.trail import Trail

# dataset: (files read, files skipped, files rejected, stored, duplicates, rejected records)
REAL_COUNTS = {
    # 55 delivery files; LICENSE and SOURCE.md are not logs
    "invictus-aws_dataset": (55, 2, 0, 2900, 0, 0),
    # 336 event files + 380 TrailDiscover metadata objects + the extension-less `[]`;
    # one event is in two files; the metadata objects are JSON but not CloudTrail
    "traildiscover": (717, 2, 0, 314, 1, 380),
    # Logstash lines without eventTime: the time comes from @timestamp
    "otrf-ec2-proxy-s3-exfil": (1, 2, 0, 103, 0, 0),
    # LookupEvents output: the record is the CloudTrailEvent string
    "plaso-lookupevents": (1, 2, 0, 6, 0, 0),
    # Datadog exports; one file has records with no commas between them
    "stratus-detonations-zmallen": (4, 2, 1, 12, 0, 0),
}


@pytest.mark.parametrize("dataset", sorted(REAL_COUNTS))
def test_real_dataset_counts(tmp_path: Path, dataset: str) -> None:
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(real(dataset))
        got = (s.files_read, s.files_skipped, s.files_rejected, s.stored, s.duplicates, s.rejected)
        assert got == REAL_COUNTS[dataset]
        n_events, n_ids = trail.con.sql(
            "select count(*), count(distinct event_id) from events"
        ).fetchall()[0]
        assert n_events == n_ids == s.stored
        # every record read is accounted for: stored + duplicates = provenance rows
        (sources,) = trail.con.sql("select count(*) from event_sources").fetchall()[0]
        assert sources == s.stored + s.duplicates
        (rejected_rows,) = trail.con.sql("select count(*) from rejected").fetchall()[0]
        assert rejected_rows == s.rejected + s.files_rejected
        assert s.ok == (s.rejected == 0 and s.files_rejected == 0)


def _original_records(dataset: str) -> dict[str, list[Any]]:
    """eventID -> every original record with that ID, read independently of trailscope."""
    out: dict[str, list[Any]] = {}

    def add(record: Any) -> None:
        if isinstance(record, dict) and "CloudTrailEvent" in record:
            record = json.loads(record["CloudTrailEvent"])
        if isinstance(record, dict) and "eventID" in record:
            out.setdefault(record["eventID"], []).append(record)

    for path in sorted(real(dataset).rglob("*")):
        if not path.is_file() or path.name in ("LICENSE", "SOURCE.md"):
            continue
        text = path.read_text("utf-8")
        try:
            doc = json.loads(text)
        except json.JSONDecodeError:
            for line in text.splitlines():
                try:
                    add(json.loads(line))
                except json.JSONDecodeError:
                    pass
            continue
        records = doc.get("Records", [doc]) if isinstance(doc, dict) else doc
        for record in records:
            add(record)
    return out


@pytest.mark.parametrize("dataset", sorted(REAL_COUNTS))
def test_every_stored_record_round_trips(tmp_path: Path, dataset: str) -> None:
    """The `record` column turns back into JSON equal to the original: no field is lost."""
    originals = _original_records(dataset)
    with Trail(tmp_path / "t.duckdb") as trail:
        trail.ingest(real(dataset))
        stored = trail.con.sql("select event_id, record from events").fetchall()
    assert stored
    for event_id, record in stored:
        assert json.loads(record) in originals[event_id]
    assert {e for e, _ in stored} == set(originals)


def test_typed_columns_of_a_real_record(tmp_path: Path) -> None:
    """One real record, every column spelled out (plaso's way of testing a parser)."""
    import datetime as dt

    with Trail(tmp_path / "t.duckdb") as trail:
        trail.ingest(real("invictus-aws_dataset"))
        (row,) = trail.sql(
            "select * exclude (record, error_message) from events "
            "where event_id = '00d3d82b-5ed2-4044-9eeb-172cbb1a0e15'"
        ).rows(named=True)
    utc = dt.UTC
    role = "stratus-red-team-ec2-get-password-data-role"
    assert {k: v.astimezone(utc) if isinstance(v, dt.datetime) else v for k, v in row.items()} == {
        "event_id": "00d3d82b-5ed2-4044-9eeb-172cbb1a0e15",
        "event_time": dt.datetime(2023, 7, 10, 11, 54, 48, tzinfo=utc),
        "event_version": "1.08",
        "event_source": "ec2.amazonaws.com",
        "event_name": "GetPasswordData",
        "aws_region": "us-east-1",
        "recipient_account_id": "123837392027",
        "read_only": True,
        "management_event": True,
        "event_type": "AwsApiCall",
        "event_category": "Management",
        "error_code": "Client.UnauthorizedOperation",
        "source_ip": "192.168.10.20",
        "user_agent": "stratus-red-team_39f95f43-cd2f-4beb-b69e-be60b6fe1f57",
        "request_id": "c198e273-1eca-4f5f-9737-0ea4d374096a",
        "shared_event_id": None,
        "vpc_endpoint_id": None,
        "session_credential_from_console": None,
        "identity_type": "AssumedRole",
        "principal_id": "AROATFQR7NSCWWVLB7BES:aws-go-sdk-1688990082523310002",
        "identity_arn": f"arn:aws:sts::123837392027:assumed-role/{role}/"
        "aws-go-sdk-1688990082523310002",
        "identity_account_id": "123837392027",
        "access_key_id": "ASIATFQR7NSCWLLE7IWW",
        "user_name": None,
        "invoked_by": None,
        "session_issuer_type": "Role",
        "session_issuer_arn": f"arn:aws:iam::123837392027:role/{role}",
        "session_issuer_account_id": "123837392027",
        "session_issuer_user_name": role,
        "session_created_at": dt.datetime(2023, 7, 10, 11, 54, 47, tzinfo=utc),
        "mfa_authenticated": False,
        "assumed_root": None,
        "source_identity": None,
        "credential_id": None,
        "in_scope_of": None,
        "on_behalf_of": None,
        "request_parameters": '{"instanceId":"i-s57e8ko3wxa0uofh"}',
        "response_elements": None,  # JSON null in the record reads as SQL NULL
        "additional_event_data": None,
        "resources": None,
        "tls_details": '{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256",'
        '"clientProvidedHostHeader":"ec2.us-east-1.amazonaws.com"}',
        "service_event_details": None,
    }


def test_s3_tree_gzip_digest_insight_and_incremental(tmp_path: Path) -> None:
    records = list(invictus_records())
    root = tmp_path / "bucket"
    write_delivery(root, "111122223333", "us-east-1", "2023-07-10", "a", records[:1000])
    write_delivery(root, "111122223333", "eu-west-1", "2023-07-10", "b", records[1000:2000])
    digest = root / "AWSLogs" / "o-a1b2c3d4e5" / "111122223333" / "CloudTrail-Digest" / "x.json.gz"
    digest.parent.mkdir(parents=True)
    digest.write_bytes(gzip.compress(b'{"awsAccountId":"111122223333","digestStartTime":"x"}'))
    insight = root / "AWSLogs" / "111122223333" / "CloudTrail-Insight" / "y.json.gz"
    insight.parent.mkdir(parents=True)
    insight.write_bytes(gzip.compress(delivery_bytes(records[:3])))
    db = tmp_path / "t.duckdb"
    with Trail(db) as trail:
        s = trail.ingest(root / "AWSLogs")  # any level of the tree
        assert (s.files_read, s.files_skipped, s.stored, s.rejected) == (2, 2, 2000, 0)
        assert sorted(s.skipped_reasons) == [
            "CloudTrail Insights event (anomaly summary, not an API call)",
            "CloudTrail digest file (integrity hashes, not events)",
        ]
        again = trail.ingest(root)
        assert (again.files_already, again.files_read, again.records, again.stored) == (4, 0, 0, 0)
        write_delivery(root, "111122223333", "us-east-1", "2023-07-11", "c", records[2000:])
        more = trail.ingest(root)
        assert (more.files_already, more.files_read, more.stored) == (4, 1, 900)
        assert trail.con.sql("select count(*) from events").fetchall()[0][0] == 2900
        assert trail.con.sql("select count(*) from files").fetchall()[0][0] == 5


def test_overlapping_trails_store_each_event_once_and_keep_every_source(tmp_path: Path) -> None:
    records = list(sample_records()[:600])
    root = tmp_path / "logs"
    org_file = write_delivery(root, "111122223333", "us-east-1", "2023-07-10", "org", records)
    acct_file = write_delivery(
        root, "111122223333", "us-east-1", "2023-07-10", "acct", records[100:300], org=False
    )
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(root)
        assert (s.stored, s.duplicates) == (600, 200)
        rows = trail.con.sql("""
            select f.path, count(*) from event_sources join files f using (file_id)
            group by 1 order by 1""").fetchall()
        assert rows == sorted([(str(acct_file), 200), (str(org_file), 600)])
        # the overlap again, in a later run: still duplicates, not new events
        write_delivery(root, "111122223333", "us-east-1", "2023-07-10", "late", records[:10])
        assert (trail.ingest(root).duplicates, trail.sql("select * from events").height) == (
            10,
            600,
        )


def test_copies_in_successive_commits_are_recognised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file a batch and a commit each: two commits are stored at once while the next one is
    parsed, and each counts the events of those not yet committed as already stored."""
    monkeypatch.setattr(ingest, "BATCH_BYTES", 1)
    records = list(sample_records()[:300])
    root = tmp_path / "logs"
    for name, part in (("a", records[:200]), ("b", records[100:]), ("c", records[::2])):
        write_delivery(root, "111122223333", "us-east-1", "2023-07-10", name, part)
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(root, commit_rows=1)
        assert (s.records, s.stored, s.duplicates) == (550, 300, 250)
        assert trail.con.sql(
            "select count(*), count(distinct event_id) from events"
        ).fetchall() == [(300, 300)]
        assert trail.con.sql("select count(*) from event_sources").fetchall() == [(550,)]


def test_files_without_records_after_a_commit_are_still_recorded(tmp_path: Path) -> None:
    """A commit ends at the file that fills it; what follows in the same batch waits for the
    next, even when it holds no records at all (here the last file is not a log)."""
    (tmp_path / "a.json").write_bytes(delivery_bytes(list(sample_records()[:2])))
    (tmp_path / "b.txt").write_text("not a log")
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path / "a.json", tmp_path / "b.txt", commit_rows=1)
        assert (s.stored, s.files_read, s.files_skipped) == (2, 1, 1)
        assert trail.con.sql("select path, status from files order by path").fetchall() == [
            (str(tmp_path / "a.json"), "ingested"),
            (str(tmp_path / "b.txt"), "skipped"),
        ]


def _bad_inputs(folder: Path) -> dict[str, str]:
    """Write one file per kind of bad input; returns file name -> expected reason fragment."""
    good = list(sample_records()[:5])
    folder.mkdir()
    (folder / "truncated.json.gz").write_bytes(gzip.compress(delivery_bytes(good))[:-30])
    (folder / "invalid.json").write_text('{"Records": [{"eventID": "x",}]}')
    (folder / "not_cloudtrail.json").write_text('{"dashboard": "x", "widgets": []}')
    no_time = dict(good[0], eventID="11111111-0000-0000-0000-000000000001")
    del no_time["eventTime"]
    no_id = dict(good[1])
    del no_id["eventID"]
    bad_time = dict(good[2], eventID="11111111-0000-0000-0000-000000000002", eventTime="yesterday")
    (folder / "records.json").write_text(json.dumps([no_time, no_id, bad_time, good[3]]))
    (folder / "lines.jsonl").write_bytes(
        json.dumps(good[4]).encode() + b"\n{broken\n\xff\xfe not utf-8\n[1, 2]\n"
    )
    # a broken first line must not hide the good lines after it
    (folder / "first_broken.jsonl").write_bytes(
        b'{"eventID": "x", truncat\n' + json.dumps(good[3] | {"eventID": "77"}).encode() + b"\n"
    )
    return {
        "truncated.json.gz": "truncated or corrupt gzip",
        "invalid.json": "invalid JSON",
        "not_cloudtrail.json": "JSON, but not CloudTrail",
        "records.json#1": "record has no eventTime",
        "records.json#2": "record has no eventID",
        "records.json#3": "eventTime is not a timestamp: yesterday",
        "lines.jsonl#2": "invalid JSON",
        "lines.jsonl#3": "not valid UTF-8",
        "lines.jsonl#4": "not a JSON object: an array",
        "first_broken.jsonl#1": "invalid JSON",
    }


def test_bad_input_is_listed_never_lost_and_good_input_still_stored(tmp_path: Path) -> None:
    expected = _bad_inputs(tmp_path / "bad")
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path / "bad")
        assert not s.ok
        assert (s.stored, s.rejected, s.files_rejected) == (3, 7, 3)
        rows = trail.con.sql("""
            select f.path, r.position, r.reason, r.raw from rejected r join files f
            using (file_id)""").fetchall()
    got = {Path(p).name + (f"#{pos}" if pos else ""): (reason, raw) for p, pos, reason, raw in rows}
    assert set(got) == set(expected)
    for key, fragment in expected.items():
        assert fragment in got[key][0], (key, got[key][0])
    assert got["lines.jsonl#2"][1] == "{broken"  # the rejected text itself is kept
    assert got["truncated.json.gz"][1] is None  # a whole file: read it at files.path


def test_odd_unicode(tmp_path: Path) -> None:
    base = sample_records()[0]
    odd = [
        "emoji 🔑🪣",
        "right-to-left \u202egnp.exe",
        "zero\u200bwidth",
        "nul \u0000 byte",
        "combining e\u0301",
        "astral \U0001f600",
    ]
    records = [
        dict(base, eventID=f"22222222-0000-0000-0000-00000000000{i}", userAgent=ua)
        for i, ua in enumerate(odd)
    ]
    lone = dict(base, eventID="22222222-0000-0000-0000-000000000009", userAgent="LONE")
    path = tmp_path / "odd.json"
    text = json.dumps({"Records": [*records, lone]})
    path.write_text(text.replace('"LONE"', '"lone \\ud800 surrogate"'))
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(path)
        assert (s.stored, s.rejected) == (len(odd), 1)
        agents = [
            r[0]
            for r in trail.con.sql("select user_agent from events order by event_id").fetchall()
        ]
        assert agents == odd
        ((reason, raw),) = trail.con.sql("select reason, raw from rejected").fetchall()
    assert "surrogate" in reason and "\\ud800" in raw


def test_unknown_fields_stay_queryable(tmp_path: Path) -> None:
    record = dict(sample_records()[0], eventVersion="1.99", futureField={"nested": ["kept"]})
    (tmp_path / "f.json").write_text(json.dumps(record))
    with Trail(tmp_path / "t.duckdb") as trail:
        trail.ingest(tmp_path / "f.json")
        got = trail.con.sql(
            "select record->>'$.futureField.nested[0]', event_version from events"
        ).fetchall()
    assert got == [("kept", "1.99")]


def test_pruning_by_key_layout_never_opens_other_files(tmp_path: Path) -> None:
    records = list(sample_records())
    root = tmp_path / "bucket"
    write_delivery(root, "111122223333", "us-east-1", "2023-07-09", "a", records[0:100])
    write_delivery(root, "111122223333", "us-east-1", "2023-07-10", "b", records[100:200])
    write_delivery(root, "111122223333", "eu-west-1", "2023-07-10", "c", records[200:300])
    write_delivery(root, "444455556666", "us-east-1", "2023-07-10", "d", records[300:400])
    write_delivery(root, "111122223333", "us-east-1", "2023-07-12", "e", records[400:500])
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(
            root,
            account=["111122223333"],
            region=["us-east-1"],
            since="2023-07-10",
            until="2023-07-10",
        )
        # the 07-09 folder is kept too: a day's folder can hold the previous day's last minutes
        paths = [
            Path(p).name for (p,) in trail.con.sql("select path from files order by 1").fetchall()
        ]
    assert s.files_seen == 1 and len(paths) == 1 and "_b.json.gz" in paths[0]


def test_parquet_exports_nested_and_as_json_strings(tmp_path: Path) -> None:
    records = list(sample_records()[:50])
    jsonl = tmp_path / "r.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in records))
    import duckdb

    con = duckdb.connect()
    # nested structs, as a Glue conversion keeps them
    con.sql(
        f"copy (select * from read_json('{jsonl}', format='newline_delimited')) "
        f"to '{tmp_path / 'nested.parquet'}' (format parquet)"
    )
    # Athena's CloudTrail table: lower-case names, variable parts as JSON text
    con.sql(f"""copy (select eventVersion as eventversion, eventTime as eventtime,
                             eventID as eventid, eventName as eventname,
                             eventSource as eventsource, awsRegion as awsregion,
                             to_json(userIdentity)::varchar as useridentity,
                             requestparameters::varchar as requestparameters
                      from read_json('{jsonl}', format='newline_delimited'))
                to '{tmp_path / "athena.parquet"}' (format parquet)""")
    names = con.sql(f"select name from parquet_schema('{tmp_path / 'athena.parquet'}')").fetchall()
    assert ("useridentity",) in names and ("eventid",) in names
    for name in ("nested.parquet", "athena.parquet"):
        with Trail(tmp_path / f"{name}.duckdb") as trail:
            s = trail.ingest(tmp_path / name)
            assert (s.stored, s.rejected) == (50, 0), name
            got = dict(trail.con.sql("select event_id, identity_arn from events").fetchall())
        assert got == {r["eventID"]: r["userIdentity"].get("arn") for r in records}


def test_analysis_opens_read_only(tmp_path: Path) -> None:
    from trailscope.errors import DatabaseError

    db = tmp_path / "t.duckdb"
    with Trail(db) as trail:
        trail.ingest(real("plaso-lookupevents"))
    with Trail(db, read_only=True) as trail:
        assert trail.sql("select count(*) as n from events")["n"][0] == 6
        with pytest.raises(DatabaseError):
            trail.ingest(real("plaso-lookupevents"))
        with pytest.raises(Exception, match="read-only"):
            trail.con.sql("delete from event_store")
    with pytest.raises(DatabaseError, match="no database"):
        Trail(tmp_path / "missing.duckdb", read_only=True)


def test_row_groups_are_the_size_ingest_commits(tmp_path: Path) -> None:
    """Trail attaches its file with row groups of schema.ROW_GROUP_SIZE rows, and ingest
    commits that many records at a time (the memory target rests on it)."""
    assert ingest.COMMIT_ROWS == schema.ROW_GROUP_SIZE
    with Trail(tmp_path / "t.duckdb", read_only=False) as trail:
        trail.con.sql(
            f"create table numbers as select range as n from range({schema.ROW_GROUP_SIZE + 1})"
        )
        trail.con.sql("checkpoint")
        assert trail.con.sql(
            "select count(distinct row_group_id) from pragma_storage_info('numbers')"
        ).fetchall() == [(2,)]


def test_a_60_mb_file(tmp_path: Path) -> None:
    records = list(sample_records())
    many = [
        dict(records[i % len(records)], eventID=f"33333333-0000-0000-0000-{i:012d}")
        for i in range(50_000)
    ]
    path = tmp_path / "big.json"
    path.write_bytes(delivery_bytes(many))
    assert path.stat().st_size > 60 * 2**20
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(path)
    assert (s.stored, s.rejected) == (50_000, 0)


def test_records_that_fool_the_fast_split_are_parsed_in_full(tmp_path: Path) -> None:
    """The byte-level split of delivery files is checked; anything it gets wrong falls back."""
    base = list(invictus_records()[:3])
    # a tag list whose second element starts like a record: the split cuts inside the record
    tricky = dict(base[0], requestParameters={"tags": [{"a": "b"}, {"eventVersion": "x"}]})
    # keys in another order than AWS's: two records end up in one piece
    reordered = {k: base[1][k] for k in sorted(base[1])}
    for name, records in (
        ("tricky", [tricky, base[1], base[2]]),
        ("reordered", [base[0], reordered, base[2]]),
    ):
        path = tmp_path / name / "f.json.gz"
        path.parent.mkdir()
        path.write_bytes(gzip.compress(delivery_bytes(records)))
        with Trail(tmp_path / f"{name}.duckdb") as trail:
            s = trail.ingest(path.parent)
            stored = dict(trail.con.sql("select event_id, record from events").fetchall())
        assert (s.stored, s.rejected, s.files_rejected) == (3, 0, 0), name
        assert {k: json.loads(v) for k, v in stored.items()} == {r["eventID"]: r for r in records}
    # bytes that are not UTF-8 inside one record of a delivery file: that record is rejected,
    # saying why, and its neighbours are stored (issue 14)
    bad = tmp_path / "bad" / "f.json"
    bad.parent.mkdir()
    text = delivery_bytes(base)
    bad.write_bytes(text.replace(b"benjamin", b"benj\xffmin", 1))
    with Trail(tmp_path / "bad.duckdb") as trail:
        s = trail.ingest(bad)
        ((position, reason, raw),) = trail.con.sql(
            "select position, reason, raw from rejected"
        ).fetchall()
        stored_ids = {i for (i,) in trail.con.sql("select event_id from events").fetchall()}
    assert (s.stored, s.rejected, s.files_rejected) == (2, 1, 0)
    assert stored_ids == {r["eventID"] for r in base[1:]}
    assert position == 1 and reason == "record is not valid UTF-8: byte 0xFF in its text"
    assert "benj\\xffmin" in raw


# issue 14: ingest that no file can stop, fool or silently lose ---------------------------------


def _with_account(n: int, prefix: str) -> list[dict[str, Any]]:
    """n sample records that name their recipient account, with IDs of their own."""
    base = [r for r in sample_records() if "recipientAccountId" in r]
    return [dict(base[i], eventID=f"{prefix}-0000-0000-0000-{i:012d}") for i in range(n)]


def test_a_copy_is_a_duplicate_whatever_its_other_fields_say(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Copies with another eventTime, another recipientAccountId, or an account where the
    stored copy had none, in a later commit (a file each, one between) or a later run, were
    stored a second time (the files table said stored 1, duplicates 0)."""
    monkeypatch.setattr(ingest, "BATCH_BYTES", 1)
    originals = _with_account(30, "66666666")
    del originals[2]["recipientAccountId"]
    root = tmp_path / "logs"
    root.mkdir()
    (root / "a.json").write_bytes(delivery_bytes(originals[:20]))
    (root / "b.json").write_bytes(delivery_bytes(originals[20:]))  # a is committed before c
    copies = [
        originals[0] | {"eventTime": "2023-01-01T00:00:00Z"},
        originals[1] | {"recipientAccountId": "999999999999"},
        originals[2] | {"recipientAccountId": "111111111111"},
    ]
    (root / "c.json").write_bytes(delivery_bytes(copies))
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(root, commit_rows=1)
        rows = trail.con.sql("select count(*), count(distinct event_id) from events").fetchall()
        assert rows == [(30, 30)]
        assert (s.records, s.stored, s.duplicates) == (33, 30, 3)
        assert trail.con.sql(
            "select stored, duplicates from files where path like '%c.json'"
        ).fetchall() == [(0, 3)]
        assert s.conflicts == 3
        later = [originals[3] | {"eventTime": "2022-02-02T02:02:02Z"}, originals[4]]
        (root / "d.json").write_bytes(delivery_bytes(later))
        again = trail.ingest(root, commit_rows=1)
        assert trail.con.sql("select count(*) from events").fetchall() == [(30,)]
        assert (again.stored, again.duplicates, again.conflicts) == (0, 2, 1)


def test_copies_that_differ_are_listed_with_both_sources_and_raised(tmp_path: Path) -> None:
    originals = _with_account(3, "77777777")
    (tmp_path / "a.json").write_bytes(delivery_bytes(originals))
    same_content = json.dumps({k: originals[0][k] for k in sorted(originals[0])}, indent=1)
    altered = originals[1] | {"sourceIPAddress": "203.0.113.9", "eventTime": "2026-10-10T00:00:00Z"}
    (tmp_path / "b.json").write_text(
        '{"Records": [' + same_content + "," + json.dumps(altered) + "]}"
    )
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path / "a.json", tmp_path / "b.json")
        assert (s.stored, s.duplicates, s.conflicts, s.ok) == (3, 2, 1, False)
        assert any(line.startswith("conflicts: 1 duplicates differ") for line in s.lines())
        rows = trail.con.sql("""
            select c.event_id, c.position, c.kept_position, c.fields, f.path, k.path, c.raw
            from duplicate_conflicts c join files f using (file_id)
            join files k on k.file_id = c.kept_file_id""").fetchall()
        findings = trail.findings(check="duplicate_conflict")
    ((event_id, position, kept_position, fields, path, kept, raw),) = rows
    assert (event_id, position, kept_position) == (originals[1]["eventID"], 2, 2)
    assert fields == "eventTime, sourceIPAddress"
    assert (Path(path).name, Path(kept).name) == ("b.json", "a.json")
    assert json.loads(raw) == altered
    (finding,) = findings.rows(named=True)
    assert finding["evidence_event_ids"] == event_id and finding["severity"] == "high"
    assert "b.json #2" in finding["explanation"] and "a.json #2" in finding["explanation"]


def test_impossible_times_and_empty_ids_are_rejected_saying_why(tmp_path: Path) -> None:
    times = ["infinity", "-infinity", "0000-06-01T00:00:00Z", "12026-01-01T00:00:00Z"]
    times += ["290000-01-01T00:00:00Z", "2013-11-12T23:59:59Z", "2013-11-13T00:00:00Z"]
    timed = zip(_with_account(7, "88888888"), times, strict=True)
    records = [r | {"eventTime": t} for r, t in timed]
    unnamed = zip(_with_account(2, "99999999"), ("", " "), strict=True)
    records += [r | {"eventID": i} for r, i in unnamed]
    (tmp_path / "f.json").write_bytes(delivery_bytes(records))
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path / "f.json")
        reasons = dict(trail.con.sql("select position, reason from rejected").fetchall())
        stored = trail.con.sql("select event_time::varchar from events").fetchall()
    assert (s.stored, s.rejected) == (1, 8)
    assert stored == [("2013-11-13 00:00:00+00",)]  # the day CloudTrail began is possible
    for position in (1, 4, 5):
        assert "is more than a day after this ingest ran" in reasons[position]
    for position in (2, 3, 6):
        assert "is before CloudTrail existed (it began on 2013-11-13)" in reasons[position]
    assert reasons[8] == reasons[9] == "record has no eventID: it is empty"


def test_text_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    """They were 'skipped: not JSON' with exit 0, their records in no table."""
    records = _with_account(12, "12121212")
    lines = b"\n".join(json.dumps(r).encode() for r in records[6:9])
    files = {
        "plain.json": b"\xef\xbb\xbf" + delivery_bytes(records[:3]),
        "zipped.json.gz": gzip.compress(b"\xef\xbb\xbf" + delivery_bytes(records[3:6])),
        "lines.jsonl": b"\xef\xbb\xbf" + lines,
        "wide.json": json.dumps({"Records": records[9:]}).encode("utf-16"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(*(tmp_path / name for name in files))
        notes = dict(trail.con.sql("select format, note from files").fetchall())
    assert (s.stored, s.files_skipped, s.ok) == (12, 0, True)
    assert notes["jsonl"] == "starts with a UTF-8 byte-order mark, ignored"
    assert "UTF-16-LE text" in notes["records"] or "UTF-16-LE text" in str(notes)


def test_one_file_does_not_stop_the_run(tmp_path: Path) -> None:
    """A document nested 10,000 levels deep raised RecursionError, a file name that is not
    UTF-8 UnicodeEncodeError: no good record of the run was stored, and every re-run failed
    the same way. Each is now one file's rejection or note; a re-run reads nothing again."""
    records = _with_account(6, "13131313")
    root = tmp_path / "logs"
    root.mkdir()
    (root / "deep.json").write_text("[" * 10_000 + "]" * 10_000)
    (root / os.fsdecode(b"odd-\xff.json")).write_bytes(delivery_bytes(records[:3]))
    (root / "good.json").write_bytes(delivery_bytes(records[3:]))
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(root)
        assert (s.stored, s.files_rejected) == (6, 1)
        rows = dict(trail.con.sql("select path, note from files").fetchall())
        ((reason,),) = trail.con.sql("select reason from rejected").fetchall()
        assert "nested too deeply" in reason
        assert rows[f"{root}/odd-\\xff.json"] == (
            "the file name is not UTF-8: its stray bytes are shown as \\xNN"
        )
        again = trail.ingest(root)
        assert (again.files_already, again.files_read) == (3, 0)


def test_the_cap_on_a_files_inflated_size_holds_while_inflating(tmp_path: Path) -> None:
    from tests.hostile import gzip_bomb

    (tmp_path / "bomb.json.gz").write_bytes(gzip_bomb(128 * 2**20))  # 128 KB of gzip
    (tmp_path / "big.json").write_bytes(delivery_bytes(_with_account(100, "14141414")))
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path, max_file_size=64 * 2**20)
        assert (s.files_rejected, s.stored) == (1, 100)
        reason = trail.con.sql("select reason from rejected").fetchall()[0][0]
        assert reason.startswith("larger than 64 MiB once inflated")
    with Trail(tmp_path / "small.duckdb") as trail:  # a plain file over the cap: not read
        s = trail.ingest(tmp_path / "big.json", max_file_size=1000)
        assert (s.files_rejected, s.stored) == (1, 0)
        assert trail.con.sql("select sha256 from files").fetchall() == [(None,)]
    with Trail(tmp_path / "default.duckdb") as trail:  # zeros under 1 GiB: not JSON
        s = trail.ingest(tmp_path / "bomb.json.gz")
        assert (s.files_rejected, s.files_skipped) == (0, 1)


def test_links_are_followed_once_and_what_cannot_be_read_is_listed(tmp_path: Path) -> None:
    records = _with_account(6, "15151515")
    day = tmp_path / "elsewhere" / "10"
    day.mkdir(parents=True)
    (day / "linked.json").write_bytes(delivery_bytes(records[:3]))
    tree = tmp_path / "AWSLogs" / "400000000002" / "CloudTrail" / "us-east-1" / "2026" / "10"
    tree.mkdir(parents=True)
    (tree / "10").symlink_to(day, target_is_directory=True)  # a symlinked day folder
    (tree / "11").mkdir()
    (tree / "11" / "own.json").write_bytes(delivery_bytes(records[3:]))
    (tree / "11" / "up").symlink_to("..", target_is_directory=True)  # a loop
    (tree / "11" / "gone.json").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tree / "11" / "pipe.json")
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path / "AWSLogs")
        rows = {
            str(Path(p).relative_to(tree)): (fmt, status, note)
            for p, fmt, status, note in trail.con.sql(
                "select path, format, status, note from files"
            ).fetchall()
        }
        (reason,) = trail.con.sql("select reason from rejected").fetchall()[0]
    assert (s.stored, s.files_rejected, s.files_skipped) == (6, 1, 2)
    assert rows["10/linked.json"][1] == "ingested"  # under the link's path, in the layout
    assert rows["11/up"] == ("folder", "skipped", "a link to a folder already read in this run")
    assert rows["11/pipe.json"][1:] == ("skipped", "not a regular file: a named pipe")
    assert rows["11/gone.json"][1] == "rejected"
    assert reason.startswith("a symbolic link that leads nowhere")


def test_json_lines_after_bad_first_lines_are_read(tmp_path: Path) -> None:
    records = _with_account(5, "16161616")
    lines = [b"{broken", b"[]", b"1", b"nope", b'"x"'] + [json.dumps(r).encode() for r in records]
    (tmp_path / "f.jsonl").write_bytes(b"\n".join(lines))
    with Trail(tmp_path / "t.duckdb") as trail:
        s = trail.ingest(tmp_path / "f.jsonl")
    assert (s.stored, s.rejected, s.files_rejected) == (5, 5, 0)


def test_a_database_an_older_trailscope_wrote_still_reads(tmp_path: Path) -> None:
    """One without duplicate_conflicts, opened read-only as the analysis commands open it: the
    other checks run; the conflict check cannot (that ingest kept no conflicts, so none found
    would be a guess), and the report says so. An ingest adds the table."""
    db = tmp_path / "old.duckdb"
    with Trail(db, read_only=False) as trail:
        trail.ingest(_one_file(tmp_path))
        trail.con.sql("drop table duplicate_conflicts")
    with Trail(db, read_only=True) as trail:
        assert trail.findings(check="duplicate_conflict").height == 0
        checks = {c["name"]: c for c in trail.report_data()["checks"]}
        assert not checks["duplicate_conflict"]["ran"]
        assert "lacks duplicate_conflicts" in checks["duplicate_conflict"]["note"]
        assert checks["duration"]["ran"]
    with Trail(db) as trail:
        trail.ingest(_one_file(tmp_path))
        assert trail.sql("select count(*) as n from duplicate_conflicts")["n"][0] == 0
        assert trail.findings(check="duplicate_conflict").height == 0


def _one_file(folder: Path) -> Path:
    path = folder / "f.json"
    path.write_bytes(delivery_bytes(_with_account(3, "17171717")))
    return path

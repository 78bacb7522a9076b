"""Chain of custody: are the log files a database rests on the ones CloudTrail delivered?

`verify` reads the digest files of local trees or s3:// sources, checks each digest's signature
and its link to the one before (trailscope.digests), then every log file the database holds
against the digests that list it: it reads the file again from where it was ingested, checks its
bytes are still those ingested (files.sha256), and hashes its first gzip member inflated, as
CloudTrail does. A file a valid digest lists that the sources lack is deleted. The results
replace the last run's in `integrity_files` and `integrity_digests`; `section` is what a report
shows of them, and queries/check_integrity.sql makes findings of them.

Cost: every file is read, inflated (ISA-L) and hashed once more, in a thread a core:
benchmarks/verify.py measures it against the ingest of the same tree (a third of it, at 2
million events).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope import digests
from trailscope.digests import DigestResult, LogEntry
from trailscope.errors import BadSource
from trailscope.s3 import is_s3
from trailscope.sources import Candidate, Filters, discover, layout_of

if TYPE_CHECKING:
    import duckdb

    from trailscope.analysis import Analysis
    from trailscope.ingest import S3Options

UTC = dt.UTC
# what cannot be explained by anything but a file or digest changed, removed or added
FILE_PROBLEMS = ("modified", "appended", "deleted", "changed_since_ingest", "unreadable")
UNLISTED = ("unlisted", "missing_digest")  # not_covered where a digest should have listed it
# A file is named after its newest event and delivered within minutes; a digest lists what was
# delivered in its hour. A file whose name time is this long before the last digest's end
# should be in one of the digests.
DELIVERY_LAG = dt.timedelta(hours=1)
_STAMP = re.compile(r"_(\d{8}T\d{4})Z_")
PROBLEM_LINES = 20  # problems a summary prints; every one is in the tables


@dataclass
class VerifySummary:
    """What a verify run found: statuses of files, digests and links, and the problems."""

    files: Counter[str] = field(default_factory=Counter)
    digests: Counter[str] = field(default_factory=Counter)
    links: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    files_read: int = 0
    bytes_read: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """No file or digest is modified, deleted, added, forged or missing; the chains have no
        gap or broken link. (Files that cannot be proven either way are not problems.)"""
        return not self.problems

    def lines(self) -> list[str]:
        def counts(c: Counter[str]) -> str:
            return ", ".join(f"{n:,} {k}" for k, n in sorted(c.items())) or "none"

        out = [
            f"log files: {counts(self.files)}",
            f"digests: {counts(self.digests)}",
            f"links: {counts(self.links)}",
            (
                f"{self.files_read:,} files ({self.bytes_read / 2**20:,.1f} MB) read again in "
                f"{self.seconds:.1f} s"
            ),
        ]
        if self.files["unverified"] or self.digests["unverified"]:
            out.append(
                "unverified: the newest digest of a local copy carries no signature (S3 keeps "
                "it in the object's metadata); verify from s3:// to prove the last hour"
            )
        out += [f"PROBLEM: {p}" for p in self.problems[:PROBLEM_LINES]]
        if len(self.problems) > PROBLEM_LINES:
            out.append(
                f"... {len(self.problems) - PROBLEM_LINES:,} more: see the integrity_files and "
                "integrity_digests tables, or trailscope findings --check integrity"
            )
        return out


@dataclass(frozen=True)
class _Measured:
    """A file read again: the SHA-256 of its bytes, of its first gzip member inflated, and how
    many bytes follow that member; or why it could not be read."""

    stored: str | None = None
    inflated: str | None = None
    trailing: int = 0
    size: int = 0
    error: str | None = None


def _measure(data: bytes) -> _Measured:
    stored = hashlib.sha256(data).hexdigest()
    try:
        inflated, rest = digests.first_member(data)
    except zlib.error as e:
        return _Measured(stored, None, 0, len(data), f"its gzip cannot be inflated ({e})")
    return _Measured(stored, hashlib.sha256(inflated).hexdigest(), len(rest), len(data))


def _measure_local(path: str) -> _Measured:
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        return _Measured(error=f"cannot be read now: {e.strerror or e}")
    return _measure(data)


def _discover(sources: Sequence[str], filters: Filters, s3: S3Options) -> Iterator[Candidate]:
    for source in sources:
        if is_s3(source):
            from trailscope.s3 import discover_s3

            yield from discover_s3(
                source, filters, profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
            )
        else:
            yield from discover([source], filters)


def _is_digest(path: str) -> bool:
    parts = digests.tail(path).split("/")
    return digests.DIGEST_FOLDER in parts[:-1] and parts[-1].endswith(".json.gz")


def _read_digests(candidates: Sequence[Candidate], s3: S3Options) -> list[digests.Digest]:
    out = []
    remote = [c for c in candidates if is_s3(c.path)]
    for c in candidates:
        if not is_s3(c.path):
            try:
                out.append(digests.parse(c.path, Path(c.path).read_bytes()))
            except OSError as e:
                out.append(digests.Digest(c.path, error=f"cannot be read: {e.strerror or e}"))
    if remote:
        from trailscope.s3 import fetch_with_metadata

        for c, data, metadata, reason in fetch_with_metadata(
            remote, profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
        ):
            if data is None:
                out.append(digests.Digest(c.path, error=f"cannot be read: {reason}"))
            else:
                out.append(digests.parse(c.path, data, metadata))
    return out


def _keys(
    parsed: Sequence[digests.Digest], files: Sequence[str | Path], remote: bool, s3: S3Options
) -> dict[str, digests.PublicKey]:
    """The public keys: from the files given, else from ListPublicKeys for the regions and
    times of the digests (s3:// sources, with credentials)."""
    if files:
        return digests.load_keys(files)
    readable = [d for d in parsed if not d.error]
    if not readable:
        return {}
    if not remote:
        raise digests.BadKeys(
            "verifying local digests needs CloudTrail's public keys: pass --public-keys FILE, "
            "holding what `aws cloudtrail list-public-keys --region REGION --start-time ... "
            "--end-time ...` prints (once per region, a file each)"
        )
    from trailscope.s3 import list_public_keys

    keys: dict[str, digests.PublicKey] = {}
    for region, (start, end) in sorted(digests.key_query(readable).items()):
        listing = {"PublicKeyList": list_public_keys(region, start, end, profile=s3.profile)}
        keys.update((k.fingerprint, k) for k in digests.keys_from_listing(listing, region))
    return keys


def _folder(path_tail: str) -> tuple[str, str] | None:
    """(account folder, region) of a file or digest in the key layout: a digest in
    `AWSLogs/o-org/111122223333/CloudTrail-Digest/us-east-1/...` and a log file in
    `.../CloudTrail/us-east-1/...` give the same."""
    return _region_folder(path_tail.split("/")[:-1])


def _region_folder(parts: Sequence[str]) -> tuple[str, str] | None:
    layout = layout_of(parts)
    if "account" not in layout or "region" not in layout:
        return None
    return "/".join(parts[: list(parts).index(layout["service"])]), layout["region"]


def _account_region(where: tuple[str, str] | None) -> tuple[str | None, str | None]:
    return (where[0].rsplit("/", 1)[-1], where[1]) if where else (None, None)


def _name_time(path: str) -> dt.datetime | None:
    stamp = _STAMP.search(path.rsplit("/", 1)[-1])
    if stamp is None:
        return None
    return dt.datetime.strptime(stamp.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC)


class _Coverage:
    """Which times the digests of each account and region cover, and where one is missing."""

    def __init__(self, results: Sequence[DigestResult]) -> None:
        self.spans: dict[tuple[str, str], list[list[dt.datetime]]] = {}
        self.missing: dict[tuple[str, str], list[tuple[dt.datetime, dt.datetime, str]]] = {}
        for r in results:
            d = r.digest
            if r.status == "missing" and r.group and r.start and r.end:
                where = _region_folder(r.group[0].split("/"))
                if where:
                    self.missing.setdefault(where, []).append((r.start, r.end, r.path))
            elif d and not d.error and d.start and d.end and not d.backfill:
                where = _folder(d.tail)
                if where:
                    self.spans.setdefault(where, []).append([d.start, d.end])
        for spans in self.spans.values():  # merged: contiguous digests make one span
            spans.sort()
            merged = [spans[0]]
            for start, end in spans[1:]:
                if start <= merged[-1][1] + dt.timedelta(seconds=1):
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            spans[:] = merged

    def classify(self, path: str, when: dt.datetime | None) -> tuple[str, str]:
        """(coverage, reason) of a log file no digest lists."""
        where = _folder(digests.tail(path))
        if where is None or when is None or "/CloudTrail/" not in f"/{digests.tail(path)}":
            return "not_delivery", (
                "not a file of CloudTrail's S3 layout (AWSLogs/.../CloudTrail/<region>/...), "
                "which is what digests list: nothing can show it is what CloudTrail delivered"
            )
        account = where[0].rsplit("/", 1)[-1]
        for start, end, missing in self.missing.get(where, []):
            if start - DELIVERY_LAG <= when <= end:
                return "missing_digest", (
                    f"the digest for {digests.iso(start)} to {digests.iso(end)} is missing "
                    f"({missing}): it may have listed this file, or been removed to hide that "
                    "it did not"
                )
        spans = self.spans.get(where)
        if not spans:
            return "no_digests", (
                f"no digest for account {account} in {where[1]} in the sources: add their "
                "CloudTrail-Digest folder (log file validation must be on for the trail)"
            )
        for start, end in spans:
            if start <= when and when + DELIVERY_LAG <= end:
                return "unlisted", (
                    f"the digests of account {account} in {where[1]} cover "
                    f"{digests.iso(start)} to {digests.iso(end)} and none lists this file: "
                    "CloudTrail did not deliver it there (or another trail without log file "
                    "validation writes to the same folder)"
                )
        covered = "; ".join(f"{digests.iso(s)} to {digests.iso(e)}" for s, e in spans)
        return "outside", (
            f"no digest in the sources covers its time {digests.iso(when)} (the digests of "
            f"account {account} in {where[1]} cover {covered})"
        )


@dataclass
class _Row:
    file_id: int | None
    path: str
    status: str
    reason: str
    event_time: dt.datetime | None = None
    coverage: str | None = None
    digest: str | None = None
    expected: str | None = None
    actual: str | None = None


def _listed_row(
    file_id: int,
    path: str,
    m: _Measured,
    ingested_sha: str | None,
    listed: Sequence[tuple[LogEntry, DigestResult]],
) -> _Row:
    """The verdict on a database file that digests list."""
    entry, result = next(((e, r) for e, r in listed if r.trusted), listed[0])
    when = entry.newest or _name_time(path)
    row = _Row(file_id, path, "", "", when, None, result.path, entry.sha256, m.inflated)
    if m.error:
        row.status, row.reason = "unreadable", f"{m.error}; {result.path} lists it"
        if m.stored is not None:  # read, but not gzip: not what CloudTrail delivered
            row.status = "modified"
        return row
    matches = m.inflated == entry.sha256
    if entry.algorithm.upper() != "SHA-256":  # the only one CloudTrail documents
        row.status = "unverified"
        row.reason = f"{result.path} lists it with a {entry.algorithm} hash, not SHA-256"
    elif not result.trusted:
        row.status = "unverified"
        row.reason = (
            f"its hash {'matches' if matches else 'DIFFERS from'} the one {result.path} lists, "
            f"but that digest is {result.status}: {result.reason}"
        )
    elif not matches:
        row.status = "modified"
        row.reason = (
            f"SHA-256 of its content {m.inflated}, {result.path} lists {entry.sha256}: it was "
            "changed after CloudTrail delivered it"
        )
    elif ingested_sha is not None and m.stored != ingested_sha:
        row.status = "changed_since_ingest"
        row.reason = (
            "its content now is what CloudTrail delivered, but its bytes are not those ingested "
            f"(SHA-256 {m.stored}, ingested {ingested_sha}): the events in the database may "
            "come from other content; ingest it again into a new database"
        )
    elif m.trailing:
        row.status = "appended"
        row.reason = (
            f"{m.trailing:,} bytes follow the gzip member the digest's hash covers: whatever "
            "was read from them (ingest reads every member) is not what CloudTrail delivered"
        )
    else:
        row.status, row.reason = "valid", f"listed with this hash by {result.path}"
    if row.status != "changed_since_ingest" and ingested_sha and m.stored != ingested_sha:
        row.reason += "; also, its bytes are not those ingested"
    return row


def verify(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[str],
    *,
    public_keys: Sequence[str | Path] = (),
    filters: Filters | None = None,
    s3: S3Options | None = None,
    workers: int | None = None,
) -> VerifySummary:
    """Verify the database's log files against the digests under `sources` (see the module
    docstring) and store the results. `public_keys` are files of `aws cloudtrail
    list-public-keys` output; without them, for s3:// sources, ListPublicKeys is asked.
    `filters` narrow it as they narrow ingest (account, region, days)."""
    from trailscope.ingest import S3Options

    started = time.monotonic()
    s3 = s3 or S3Options()
    filters = filters or Filters()
    summary = VerifySummary()
    candidates = list(_discover(sources, filters, s3))
    digest_candidates = [c for c in candidates if _is_digest(c.path)]
    if not digest_candidates:
        raise BadSource(
            f"no CloudTrail digest files under {', '.join(sources)}: point verify at the tree "
            "or bucket holding the trail's CloudTrail-Digest folders (they exist only where log "
            "file validation is on: aws cloudtrail get-trail shows LogFileValidationEnabled)"
        )
    present = {digests.tail(c.path) for c in candidates if not _is_digest(c.path)}
    parsed = _read_digests(digest_candidates, s3)
    keys = _keys(parsed, public_keys, any(is_s3(s) for s in sources), s3)
    results = digests.check_chain(parsed, keys, from_s3={d.path: is_s3(d.path) for d in parsed})
    listings: dict[str, list[tuple[LogEntry, DigestResult]]] = {}
    for r in results:
        for entry in r.digest.log_files if r.digest else ():
            listings.setdefault(entry.tail, []).append((entry, r))

    files = [
        row
        for row in con.sql(
            "select file_id, path, size, mtime, sha256 from files "
            "where status <> 'skipped' order by file_id"
        ).fetchall()
        if filters.keeps(layout_of(digests.tail(row[1]).split("/")[:-1]))
    ]
    rows = _held_rows(con, files, listings, _Coverage(results), s3, workers, summary)
    held = {digests.tail(f[1]) for f in files}
    rows += _absent_rows(listings, held, present, filters)
    _store(con, rows, results, dt.datetime.now(UTC))
    _tally(summary, rows, results)
    summary.seconds = time.monotonic() - started
    return summary


def _held_rows(
    con: duckdb.DuckDBPyConnection,
    files: Sequence[tuple[Any, ...]],
    listings: Mapping[str, Sequence[tuple[LogEntry, DigestResult]]],
    coverage: _Coverage,
    s3: S3Options,
    workers: int | None,
    summary: VerifySummary,
) -> list[_Row]:
    """The verdict on each file the database holds, read again."""
    newest = dict(
        con.sql(
            "select s.file_id, max(e.event_time) from event_sources s "
            "join events e on e.event_id = s.event_id group by s.file_id"
        ).fetchall()
    )
    rows = []
    for (file_id, path, _size, _mtime, ingested), m in zip(
        files, _measure_all(files, s3, workers), strict=True
    ):
        summary.files_read += m.error is None
        summary.bytes_read += m.size
        listed = listings.get(digests.tail(path))
        if listed:
            rows.append(_listed_row(file_id, path, m, ingested, listed))
            continue
        when = _name_time(path) or newest.get(file_id)
        kind, reason = coverage.classify(path, when)
        status = "not_covered"
        if m.error and m.stored is None:  # gone, or denied: nothing to hash
            status, reason = "unreadable", f"{m.error}; {reason}"
        time_ = newest.get(file_id) or when
        rows.append(_Row(file_id, path, status, reason, time_, kind, actual=m.inflated))
    return rows


def _absent_rows(
    listings: Mapping[str, Sequence[tuple[LogEntry, DigestResult]]],
    held: set[str],
    present: set[str],
    filters: Filters,
) -> list[_Row]:
    """The files digests list that the database does not hold: deleted where a valid digest
    lists them and the sources lack them."""
    rows = []
    for where, listed in sorted(listings.items()):
        if where in held or not filters.keeps(layout_of(where.split("/")[:-1])):
            continue
        entry, result = next(((e, r) for e, r in listed if r.trusted), listed[0])
        row = _Row(None, entry.url, "", "", entry.newest, None, result.path, entry.sha256)
        if where in present:
            row.status = "not_ingested"
            row.reason = f"in the sources, not in the database (listed by {result.path})"
        elif result.trusted:
            row.status = "deleted"
            row.reason = (
                f"{result.path}, a valid digest, lists it; the sources lack it: it was removed "
                "after CloudTrail delivered it"
            )
        else:
            row.status = "unverified"
            row.reason = f"listed by {result.path}, which is {result.status}; the sources lack it"
        rows.append(row)
    return rows


def _tally(summary: VerifySummary, rows: Sequence[_Row], results: Sequence[DigestResult]) -> None:
    for row in rows:
        summary.files[row.status] += 1
        if row.status in FILE_PROBLEMS or (
            row.status == "not_covered" and row.coverage in UNLISTED
        ):
            summary.problems.append(f"{row.status}: {row.path}: {row.reason}")
    for r in results:
        summary.digests[r.status] += 1
        if r.link:
            summary.links[r.link] += 1
        if r.status in digests.DIGEST_PROBLEMS:
            summary.problems.append(f"digest {r.status}: {r.path}: {r.reason}")
        if r.link in digests.LINK_PROBLEMS:
            summary.problems.append(f"link {r.link}: {r.path}: {r.link_reason}")


def _measure_all(
    files: Sequence[tuple[Any, ...]], s3: S3Options, workers: int | None
) -> Iterator[_Measured]:
    """Each file read again and measured, in order: local files in a thread a core, S3 objects
    as they arrive (downloaded ahead, in threads: the object as it is now, whatever its ETag,
    so that a change since ingest is measured, not refused)."""
    local = [f[1] for f in files if not is_s3(f[1])]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        measured = iter(pool.map(_measure_local, local))
        remote = _measure_remote([f for f in files if is_s3(f[1])], s3)
        for f in files:
            yield next(remote) if is_s3(f[1]) else next(measured)


def _measure_remote(files: Iterable[tuple[Any, ...]], s3: S3Options) -> Iterator[_Measured]:
    from trailscope.s3 import fetch

    candidates = (Candidate(path, size or 0, mtime or 0.0) for _, path, size, mtime, _ in files)
    for _cand, data, reason in fetch(
        candidates, profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
    ):
        yield _Measured(error=f"cannot be read now: {reason}") if data is None else _measure(data)


def _store(
    con: duckdb.DuckDBPyConnection,
    rows: Sequence[_Row],
    results: Sequence[DigestResult],
    verified_at: dt.datetime,
) -> None:
    """Replace the last run's results."""
    import pyarrow as pa

    def folder(path: str) -> tuple[str | None, str | None]:
        return _account_region(_folder(digests.tail(path)))

    file_table = pa.table(
        {
            "file_id": pa.array([r.file_id for r in rows], pa.int32()),
            "path": [r.path for r in rows],
            "account_id": [folder(r.path)[0] for r in rows],
            "region": [folder(r.path)[1] for r in rows],
            "event_time": pa.array([r.event_time for r in rows], pa.timestamp("us", "UTC")),
            "status": [r.status for r in rows],
            "coverage": pa.array([r.coverage for r in rows], pa.string()),
            "digest": pa.array([r.digest for r in rows], pa.string()),
            "expected_sha256": pa.array([r.expected for r in rows], pa.string()),
            "actual_sha256": pa.array([r.actual for r in rows], pa.string()),
            "reason": [r.reason for r in rows],
            "verified_at": pa.array([verified_at] * len(rows), pa.timestamp("us", "UTC")),
        }
    )

    def digest_row(r: DigestResult) -> dict[str, Any]:
        d = r.digest
        name = d.name if d else None
        where = (
            folder(r.path)
            if d
            else _account_region(r.group and _region_folder(r.group[0].split("/")))
        )
        reason = r.reason + (f"; {r.link_reason}" if r.link_reason and r.link != "linked" else "")
        return {
            "path": r.path,
            "account_id": where[0],
            "region": where[1],
            "trail": name["trail"] if name else (r.group[1] if r.group else None),
            "backfill": d.backfill if d else bool(r.group and r.group[3]),
            "digest_start": d.start if d else r.start,
            "digest_end": d.end if d else r.end,
            "fingerprint": d.fingerprint or None if d else None,
            "log_files": len(d.log_files) if d and not d.error else None,
            "status": r.status,
            "link": r.link,
            "previous": r.previous,
            "reason": reason,
            "verified_at": verified_at,
        }

    digest_rows = [digest_row(r) for r in results]
    digest_table = pa.Table.from_pylist(
        digest_rows,
        schema=pa.schema(
            [
                ("path", pa.string()),
                ("account_id", pa.string()),
                ("region", pa.string()),
                ("trail", pa.string()),
                ("backfill", pa.bool_()),
                ("digest_start", pa.timestamp("us", "UTC")),
                ("digest_end", pa.timestamp("us", "UTC")),
                ("fingerprint", pa.string()),
                ("log_files", pa.int32()),
                ("status", pa.string()),
                ("link", pa.string()),
                ("previous", pa.string()),
                ("reason", pa.string()),
                ("verified_at", pa.timestamp("us", "UTC")),
            ]
        ),
    )
    # The checkpoint after a write merges the row groups ingest left part-filled (it turns that
    # off while it runs): at 2 million events that rewrote event_store, 90 s and 4.3 GB of the
    # first verify after an ingest (benchmarks/verify.py). Reorganising the events is not
    # verify's work: it checkpoints its own two tables with the merging off, as ingest does.
    (vacuum,) = con.sql("select current_setting('max_vacuum_tasks')").fetchall()[0]
    con.sql("SET max_vacuum_tasks = 0")
    con.register("verified_files", file_table)
    con.register("verified_digests", digest_table)
    try:
        con.sql("begin transaction")
        try:
            con.sql("delete from integrity_files")
            con.sql("delete from integrity_digests")
            con.sql("insert into integrity_files select * from verified_files")
            con.sql("insert into integrity_digests select * from verified_digests")
            con.sql("commit")
        except BaseException:
            con.sql("rollback")
            raise
        con.sql("checkpoint")
    finally:
        con.sql(f"SET max_vacuum_tasks = {int(vacuum)}")
        for name in ("verified_files", "verified_digests"):
            con.unregister(name)


# ---------------------------------------------------------------------------------------------
# the report's integrity section


def section(
    analysis: Analysis, since: dt.datetime, until: dt.datetime, accounts: Sequence[str] = ()
) -> dict[str, Any]:
    """What the report shows: whether a verify ran, the counts, and every problem in the period
    (files by their newest event, digests by their period) and accounts, as plain data."""
    if not {"integrity_files", "integrity_digests"} <= analysis.tables():
        return {"verified": False}
    params: Mapping[str, Any] = {"since": since, "until": until, "accounts": list(accounts)}
    scope = (
        "(len($accounts) = 0 or list_contains($accounts, account_id))"
        " and ({time} is null or {time} between $since and $until)"
    )
    files = analysis.sql(
        f"select * from integrity_files where {scope.format(time='event_time')}", **params
    )
    digest_scope = scope.format(time="digest_end")
    digest_rows = analysis.sql(f"select * from integrity_digests where {digest_scope}", **params)
    when = analysis.rows(
        "select max(verified_at) from (select verified_at from integrity_files union all "
        "select verified_at from integrity_digests)"
    )[0][0]
    if when is None:
        return {"verified": False}

    def counts(values: Iterable[Any]) -> dict[str, int]:
        return dict(sorted(Counter(v for v in values if v is not None).items()))

    problems = [
        {
            "kind": "log file",
            "status": r["status"] + (f" ({r['coverage']})" if r["coverage"] else ""),
            "path": r["path"],
            "account_id": r["account_id"],
            "time": digests.iso(r["event_time"]) if r["event_time"] else None,
            "reason": r["reason"],
        }
        for r in files.sort("event_time", "path", nulls_last=True).iter_rows(named=True)
        if r["status"] in FILE_PROBLEMS
        or (r["status"] == "not_covered" and r["coverage"] in UNLISTED)
    ]
    problems += [
        {
            "kind": "digest",
            "status": r["status"]
            if r["status"] in digests.DIGEST_PROBLEMS
            else f"link {r['link']}",
            "path": r["path"],
            "account_id": r["account_id"],
            "time": digests.iso(r["digest_end"]) if r["digest_end"] else None,
            "reason": r["reason"],
        }
        for r in digest_rows.sort("digest_end", "path", nulls_last=True).iter_rows(named=True)
        if r["status"] in digests.DIGEST_PROBLEMS or r["link"] in digests.LINK_PROBLEMS
    ]
    return {
        "verified": True,
        "verified_at": digests.iso(when),
        "files": counts(files["status"]),
        "coverage": counts(files["coverage"]),
        "digests": counts(digest_rows["status"]),
        "links": counts(digest_rows["link"]),
        "problems": problems,
    }

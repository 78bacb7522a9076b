"""Ingest: files into the events table, incrementally, atomically per batch, losing nothing.

Three stages run at once: worker threads read files (decompress, detect, split into records);
this thread has DuckDB parse and type a batch of records in bulk; two more DuckDB connections
store earlier commits' worth, each in its own transaction. Every record read ends up stored,
recognised as a duplicate (same eventID, whatever its other fields say), or listed in
`rejected` with its file, position and why. A duplicate whose content differs from the copy
stored is kept out of `events` and listed in `duplicate_conflicts` with both sources.

No file stops a run: a file that cannot be read is rejected with its reason and the run goes
on. What stops it (Ctrl-C, a full disk, S3 credentials expiring) leaves every file committed
before whole, and raises an `IngestStopped` (or, for Ctrl-C, `IngestInterrupted`) carrying the
summary of what was kept.
"""

from __future__ import annotations

import collections
import datetime as dt
import errno
import hashlib
import json
import queue
import signal
import threading
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trailscope import __version__, formats, schema
from trailscope.errors import TrailscopeError
from trailscope.s3 import is_s3
from trailscope.sources import Candidate, Filters, discover, shown_path

__all__ = [
    "Filters",
    "IngestInterrupted",
    "IngestStopped",
    "IngestSummary",
    "Progress",
    "S3Options",
    "ingest",
]

# Measured at 2 million events on 2 cores (benchmarks/ingest.py).
BATCH_BYTES = 48 * 2**20  # JSON text DuckDB parses in one statement (planning it takes 7 ms)
BATCH_FILES = 2_000
COMMIT_ROWS = schema.ROW_GROUP_SIZE  # records (whole files) stored in one transaction, or more
READ_AHEAD = 8  # files being read at once, ahead of the loader
STORE_WORKERS = 2  # transactions being stored at once, each on its own connection
MAX_FILE_SIZE = formats.MAX_FILE_SIZE  # bytes one file may hold once inflated
COMPARE_ROWS = 8_192  # copies compared with the stored copy at a time (their text is held)
# DuckDB while ingesting: its own memory bounded, with room for two commits being stored (at
# 512 MB it kept reaching the limit, and each time handed memory back to the system, only to
# fault it in again: 18% of the CPU went to the kernel, against 11% now); each finished
# row group written at once, not five; the part-filled row group each commit leaves not merged
# into its neighbours at the next checkpoint, which re-compressed them at every commit and
# doubled the cost of storing; and one thread for each of its connections, which with the
# readers keep the cores busy (two each fought over them: 20% slower, and more memory).
INGEST_SETTINGS = {
    "memory_limit": "896MB",
    "write_buffer_row_group_count": "1",
    "max_vacuum_tasks": "0",
    "threads": "1",
}
SAMPLE_REJECTIONS = 20
# how a failed write says the disk (or a quota, or a file-size limit) is full
_FULL = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_FULL_WORDS = ("No space left on device", "File too large", "Disk quota exceeded")


class Progress(Protocol):
    def __call__(self, *, files: int, records: int, bytes_read: int) -> None: ...


@dataclass
class IngestSummary:
    """What an ingest run did. `rejected_sample` shows the first few rejections."""

    run_id: int
    files_seen: int = 0
    files_read: int = 0
    files_already: int = 0  # in the manifest with the same size and time: not opened
    files_skipped: int = 0  # not log files (digests, Insights, other formats)
    files_rejected: int = 0  # nothing usable in them
    records: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    conflicts: int = 0  # duplicates whose content differs from the stored copy
    bytes_read: int = 0
    seconds: float = 0.0
    rejected_sample: list[tuple[str, int | None, str]] = field(default_factory=list)
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every file was read and every record stored or recognised as a duplicate
        of the same content."""
        return self.rejected == 0 and self.files_rejected == 0 and self.conflicts == 0

    def lines(self) -> list[str]:
        rate = self.records / self.seconds if self.seconds else 0.0
        out = [
            (
                f"files: {self.files_seen:,} seen, {self.files_read:,} read, "
                f"{self.files_already:,} already ingested, {self.files_skipped:,} skipped, "
                f"{self.files_rejected:,} rejected"
            ),
            (
                f"records: {self.records:,} read, {self.stored:,} stored, {self.duplicates:,} "
                f"duplicates, {self.rejected:,} rejected"
            ),
            f"{self.bytes_read / 2**20:,.1f} MB in {self.seconds:.1f} s ({rate:,.0f} records/s)",
        ]
        if self.conflicts:
            out.append(
                f"conflicts: {self.conflicts:,} duplicates differ from the stored copy of their "
                "eventID (the first read is kept; both sources are in the "
                "`duplicate_conflicts` table and the findings)"
            )
        out += [f"skipped {n:,} ({why})" for why, n in sorted(self.skipped_reasons.items())]
        out += self.notes
        for path, position, reason in self.rejected_sample:
            where = f"{path}" + (f" #{position}" if position is not None else "")
            out.append(f"rejected: {where}: {reason}")
        if self.rejected + self.files_rejected > len(self.rejected_sample):
            more = self.rejected + self.files_rejected - len(self.rejected_sample)
            out.append(f"... {more:,} more in the `rejected` table")
        return out

    def kept(self) -> str:
        """What a stopped run kept, in one line."""
        return (
            f"this run committed {self.files_read + self.files_skipped:,} files whole "
            f"({self.stored:,} events stored, {self.duplicates:,} duplicates, "
            f"{self.rejected:,} rejected) and nothing in part; the files it had not committed "
            "are left unread: run the same command again to read only those"
        )


class IngestStopped(TrailscopeError):
    """A run that could not go on (a full disk, S3 credentials expiring): what it committed
    before is kept, whole files only; `summary` says what that was."""

    def __init__(self, message: str, summary: IngestSummary) -> None:
        super().__init__(message)
        self.summary = summary


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C: the commits in flight were let finish, the files read but not committed were
    dropped; `summary` says what was kept."""

    def __init__(self, summary: IngestSummary) -> None:
        super().__init__("interrupted")
        self.summary = summary


def disk_full(e: BaseException) -> bool:
    """Whether an error (or what caused it) says a write found the disk full."""
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in _FULL:
            return True
        if any(words in str(seen) for words in _FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


@dataclass
class _File:
    """A file on its way in: its manifest row and what reading it gave."""

    file_id: int
    candidate: Candidate
    sha256: str | None = None
    result: formats.ReadResult | None = None
    table: pa.Table | None = None  # its records (file_id, position, line), ready for DuckDB
    data: bytes | None = None  # the bytes, for a file fetched from S3
    read_error: str | None = None
    max_size: int = MAX_FILE_SIZE

    @property
    def error(self) -> str | None:
        """Why the file as a whole could not be read, if it could not."""
        return self.read_error or (self.result.error if self.result else None)

    @property
    def weight(self) -> int:
        return 0 if self.table is None else self.table.get_total_buffer_size()


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[str],
    filters: Filters,
    *,
    progress: Progress | None = None,
    commit_rows: int = COMMIT_ROWS,
    s3: S3Options | None = None,
    max_file_size: int = MAX_FILE_SIZE,
) -> IngestSummary:
    """Ingest every file under `sources` that the manifest does not already hold.

    Whole files are committed together once `commit_rows` records are pending: an interrupted
    run leaves only whole files behind, and the next run picks up the rest. A file larger
    than `max_file_size` bytes once inflated is rejected (while inflating, for gzip)."""
    if max_file_size < 1:
        raise TrailscopeError(f"the cap on a file's size must be positive, not {max_file_size}")
    started = time.monotonic()
    before = {
        name: con.sql("select current_setting($name)", params={"name": name}).fetchall()[0][0]
        for name in INGEST_SETTINGS
    }
    for name, value in INGEST_SETTINGS.items():
        con.sql(f"SET {name} = '{value}'")
    summary = IngestSummary(_start_run(con, sources, filters))
    try:
        with _interruptible() as stop:
            _ingest(
                con,
                summary,
                sources,
                filters,
                progress,
                commit_rows,
                s3 or S3Options(),
                max_file_size,
                stop,
            )
        con.sql("checkpoint")  # now, within the limit, rather than unbounded at close
        summary.seconds = time.monotonic() - started
        return summary
    except (duckdb.Error, OSError) as e:
        summary.seconds = time.monotonic() - started
        if not disk_full(e):
            raise
        message = str(e).strip().splitlines()[0]
        raise IngestStopped(
            f"the disk is full (or a file-size limit was reached) while writing the database: "
            f"{message}. The data is safe: {summary.kept()}, once there is room",
            summary,
        ) from e
    except TrailscopeError as e:  # S3 failing for every object from here on
        summary.seconds = time.monotonic() - started
        raise IngestStopped(f"{e}; {summary.kept()}", summary) from e
    finally:
        for name, value in before.items():
            try:
                con.sql(f"SET {name} = '{value}'")
            except duckdb.Error:  # a database that failed to write refuses even this
                break


@contextmanager
def _interruptible() -> Iterator[threading.Event]:
    """Ctrl-C sets the event the run stops at, between batches, instead of raising inside
    DuckDB or a transaction; a second Ctrl-C raises at once. Only the main thread gets
    signals: elsewhere the event is never set."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def handler(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _ingest(
    con: duckdb.DuckDBPyConnection,
    summary: IngestSummary,
    sources: Sequence[str],
    filters: Filters,
    progress: Progress | None,
    commit_rows: int,
    s3: S3Options,
    max_file_size: int,
    stop: threading.Event,
) -> None:
    run_id = summary.run_id
    # a file rejected before its bytes were read (an S3 object denied, say) is tried again
    known = {
        (p, s, m)
        for p, s, m in con.sql(
            "select path, size, mtime from files where not (status = 'rejected' and sha256 is null)"
        ).fetchall()
    }
    next_id = con.sql("select coalesce(max(file_id), 0) + 1 from files").fetchall()[0][0]

    def todo() -> Iterator[_File]:
        nonlocal next_id
        for cand in _discover(sources, filters, s3):
            summary.files_seen += 1
            if (cand.shown, cand.size, cand.mtime) in known:
                summary.files_already += 1
                continue
            f = _File(next_id, cand, read_error=cand.error, max_size=max_file_size)
            if not cand.skip and not cand.folder and cand.size > max_file_size:
                f.read_error = formats.too_large(max_file_size)  # not even downloaded
            yield f
            next_id += 1

    latest = dt.datetime.now(dt.UTC) + schema.FUTURE_SLACK  # no event is later than this
    loader = _Loader(con, run_id, summary, commit_rows, latest)
    files: Iterator[_File] = todo()
    if any(is_s3(source) for source in sources):
        files = _fetched(files, s3)
    try:
        for batch in _ahead(_batches(_read_all(files)), stop):
            loader.load(batch)
            if progress is not None:
                progress(
                    files=summary.files_seen, records=summary.records, bytes_read=summary.bytes_read
                )
    except TrailscopeError:
        loader.finish()  # what was read in full before S3 failed stays
        raise
    except BaseException:
        loader.abandon()  # a failed commit, or Ctrl-C twice: the commits in flight end
        raise
    if stop.is_set():
        loader.abandon()
        raise IngestInterrupted(summary)
    loader.finish()
    summary.rejected_sample = [
        (path, position, reason)
        for path, position, reason in con.sql(
            "select f.path, r.position, r.reason from rejected r join files f using (file_id) "
            "where f.run_id = $run order by r.file_id, r.position nulls first limit $n",
            params={"run": run_id, "n": SAMPLE_REJECTIONS},
        ).fetchall()
    ]
    con.sql(
        "update ingest_runs set finished_at = now() where run_id = $run_id",
        params={"run_id": run_id},
    )


@dataclass(frozen=True)
class S3Options:
    """How to reach S3 for s3:// sources; None means the standard AWS chain decides."""

    profile: str | None = None
    endpoint_url: str | None = None
    region: str | None = None


def _discover(sources: Sequence[str], filters: Filters, s3: S3Options) -> Iterator[Candidate]:
    for source in sources:
        if is_s3(source):
            from trailscope.s3 import discover_s3

            yield from discover_s3(
                source, filters, profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
            )
        else:
            yield from discover([source], filters)


def _fetched(files: Iterator[_File], s3: S3Options) -> Iterator[_File]:
    """Download S3 objects ahead of the readers, a bounded number at once; others pass."""
    from trailscope.s3 import fetch

    waiting: collections.deque[_File] = collections.deque()

    def candidates() -> Iterator[Candidate]:
        for f in files:
            waiting.append(f)
            # one already known to be unreadable (too large) is passed over, not downloaded
            yield f.candidate if f.read_error is None else replace(f.candidate, skip="unread")

    for _cand, data, reason in fetch(
        candidates(), profile=s3.profile, endpoint_url=s3.endpoint_url, region=s3.region
    ):
        f = waiting.popleft()
        f.data, f.read_error = data, reason or f.read_error
        yield f


def _start_run(con: duckdb.DuckDBPyConnection, sources: Sequence[str], filters: Filters) -> int:
    run_id: int = con.sql("select coalesce(max(run_id), 0) + 1 from ingest_runs").fetchall()[0][0]
    con.sql(
        "insert into ingest_runs values ($run_id, now(), null, $sources, $version)",
        params={
            "run_id": run_id,
            "version": __version__,
            "sources": json.dumps(
                {"sources": [shown_path(s) for s in sources], **filters.as_dict()}
            ),
        },
    )
    return run_id


def _read_one(f: _File, *, slow: bool = False) -> _File:
    """Runs in a worker thread: hash, decompress and split one file into lines.

    `slow` parses the whole document, for a file whose fast split did not hold."""
    cand = f.candidate
    if cand.skip or f.read_error:
        return f
    if f.data is not None:
        data = f.data
    else:
        try:
            with open(cand.path, "rb") as fh:
                data = fh.read(f.max_size + 1)  # it may have grown since it was listed
        except OSError as e:
            f.read_error = f"cannot read: {e.strerror or e}"
            return f
    f.sha256 = hashlib.sha256(data).hexdigest()
    if len(data) > f.max_size:  # grown since it was listed
        f.read_error = formats.too_large(f.max_size)
        return f
    f.result = formats.read_bytes(data, slow=slow, max_size=f.max_size)
    f.table = _lines_table(f)
    return f


def _lines_table(f: _File) -> pa.Table | None:
    """The file's records as rows (file_id, position, line), without a Python object or a copy
    of the text per record; None when a fast split does not hold (not UTF-8, or a piece too
    short to be a record): the full parse then says what is wrong."""
    assert f.result is not None
    parts = []
    for chunk in f.result.chunks:
        if chunk.spans is not None:
            lines = _record_views(chunk.text, *chunk.spans)
            if lines is None:
                return None
            positions = _numbered(chunk.offset, len(lines))
        else:  # JSON lines, which may have blank ones
            text = pa.array([chunk.text], pa.large_binary()).cast(pa.large_string())
            lines = pc.split_pattern(text, "\n").flatten()
            keep = pc.not_equal(pc.utf8_trim_whitespace(lines), "")
            positions = _numbered(chunk.offset, len(lines)).filter(keep)
            lines = lines.filter(keep).cast(pa.string_view())
        parts.append(
            pa.table(
                {
                    "file_id": pa.array(np.full(len(lines), f.file_id, np.int32)),
                    "position": positions,
                    "line": lines,
                }
            )
        )
    f.result.chunks = []  # the table holds the text now
    return pa.concat_tables(parts) if parts else EMPTY_LINES


def _numbered(offset: int, count: int) -> pa.Array:
    """Positions offset + 1 ... offset + count, without a Python int for each."""
    return pa.array(np.arange(offset + 1, offset + 1 + count, dtype=np.int32))


def _record_views(text: bytes, starts: list[int], ends: list[int]) -> pa.Array | None:
    """Arrow string views of `text[start:end]` for each record: the views point into the
    file's own bytes (Arrow's columnar format, "variable-size binary view layout": 16 bytes a
    value, length, first four bytes, buffer index, offset). None when the text is not UTF-8
    or is too long to address, or a piece is 12 bytes or shorter (those would be inlined, and
    are never CloudTrail records)."""
    begin, length = np.array(starts, np.int32), np.array(ends, np.int64) - starts
    if len(text) >= 2**31 or length.min() <= 12:
        return None
    raw = np.frombuffer(text, np.uint8)
    views = np.empty((len(begin), 4), np.int32)
    views[:, 0] = length
    views[:, 1] = raw[begin[:, None] + np.arange(4)].view(np.int32)[:, 0]
    views[:, 2] = 0
    views[:, 3] = begin
    lines = pa.Array.from_buffers(
        pa.string_view(), len(begin), [None, pa.py_buffer(views), pa.py_buffer(text)]
    )
    try:
        lines.validate(full=True)  # UTF-8, and every view inside the text
    except pa.ArrowInvalid:
        return None
    return lines


def _ahead(batches: Generator[list[_File]], stop: threading.Event) -> Iterator[list[_File]]:
    """Assemble the next batch in a thread while the caller loads this one; once `stop` is
    set, no more (the thread ends too)."""
    out: queue.Queue[list[_File] | BaseException | None] = queue.Queue(maxsize=1)

    def put(item: list[_File] | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(None)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which raises it
            put(e)
        finally:
            batches.close()

    threading.Thread(target=produce, name="trailscope-batches", daemon=True).start()
    while not stop.is_set():
        try:
            item = out.get(timeout=0.1)
        except queue.Empty:
            continue
        if item is None:
            return
        if isinstance(item, BaseException):
            raise item
        yield item


def _read_all(files: Iterable[_File]) -> Iterator[_File]:
    """Read files in worker threads, a bounded number ahead, yielding them in order. When the
    files stop coming (S3 failing), those already being read are yielded first."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="trailscope-read") as pool:
        pending: collections.deque[Future[_File]] = collections.deque()
        try:
            for f in files:
                pending.append(pool.submit(_read_safely, f))
                if len(pending) >= READ_AHEAD:
                    yield pending.popleft().result()
        except Exception:
            while pending:
                yield pending.popleft().result()
            raise
        while pending:
            yield pending.popleft().result()


def _batches(files: Iterable[_File]) -> Generator[list[_File]]:
    """Files in batches of about BATCH_BYTES; the last part-filled one is yielded also when
    the files stop coming with an error, so that what was read is stored."""
    batch: list[_File] = []
    weight = 0
    try:
        for f in files:
            batch.append(f)
            weight += f.weight
            if weight >= BATCH_BYTES or len(batch) >= BATCH_FILES:
                yield batch
                batch, weight = [], 0
    except Exception:
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def _read_safely(f: _File, *, slow: bool = False) -> _File:
    """_read_one, with whatever a file makes it raise turned into the file's rejection: no
    file stops the run."""
    try:
        return _read_one(f, slow=slow)
    except Exception as e:  # noqa: BLE001 - MemoryError, a parser's RecursionError, ...
        f.result, f.table = None, None
        f.read_error = f"could not be read ({type(e).__name__}: {e})"
        return f


def _field(path: tuple[str, ...]) -> str:
    return "s." + ".".join(json.dumps(p) for p in path)


EMPTY_KNOWN = pa.table(
    {"event_id": pa.array([], pa.string()), "stored_row": pa.array([], pa.int64())}
)
EMPTY_COPIES = pa.table(
    {
        "event_id": pa.array([], pa.string()),
        "file_id": pa.array([], pa.int32()),
        "position": pa.array([], pa.int32()),
        "text": pa.array([], pa.string()),
    }
)
EMPTY_LINES = pa.table(
    {
        "file_id": pa.array([], pa.int32()),
        "position": pa.array([], pa.int32()),
        "line": pa.array([], pa.string_view()),
    }
)
_STRUCTURE = schema.extraction_structure()
# every typed column, from the struct json_transform made of the record
_SELECT = ",\n".join(
    f"try_cast({_field(c.path)} as {c.type}) as {c.name}"
    if c.type in ("BOOLEAN", "TIMESTAMPTZ")
    else f"{_field(c.path)} as {c.name}"
    for c in schema.EVENT_COLUMNS
    if c.path and c.stored and c.name not in ("event_id", "event_time")
)
_COLUMNS = ", ".join(c.name for c in schema.EVENT_COLUMNS if c.stored)
# the same, from a parsed row: the record is a LookupEvents row's inner CloudTrailEvent, or else
# the line itself
_STORED = ", ".join(
    "coalesce(record_text, line)" if c.name == "record" else c.name
    for c in schema.EVENT_COLUMNS
    if c.stored
)


def _timestamp(t: dt.datetime) -> str:
    return f"TIMESTAMPTZ '{t.astimezone(dt.UTC).isoformat()}'"


def _parse_query(line_parse: str, latest: dt.datetime) -> str:
    """One JSON parse a record (`line_parse`, of `line`): json_transform gives empty fields for
    anything that is not a record; the reasons are worked out only for those (json_type parses
    the record again, so a record with an ID and a time never reaches it). An eventTime outside
    the window of possible times (schema.CLOUDTRAIL_BEGAN to `latest`) is a reason too; other
    times outside it are left NULL, as a time that does not parse is."""
    early, late = _timestamp(schema.CLOUDTRAIL_BEGAN), _timestamp(latest)
    columns = ", ".join(
        f"case when {c.name} between {early} and {late} then {c.name} end as {c.name}"
        if c.type == "TIMESTAMPTZ"
        else c.name
        for c in schema.EVENT_COLUMNS
        if c.stored and c.name not in ("event_id", "event_time", "record")
    )
    shown = "left(time_text, 100)"  # the reason quotes it; the record holds all of it
    return f"""
select file_id, position, record_text, event_id, hash(event_id) as id_hash, event_time,
       from_logstash, {columns},
       case
         when not line_ok then 'invalid JSON'
         when s is null then 'CloudTrailEvent is not valid JSON'
         when trim(event_id) <> '' and event_time between {early} and {late}
           then null  -- the usual case
         when json_type(record) <> 'OBJECT' then 'not a JSON object: ' || case json_type(record)
           when 'VARCHAR' then 'a string' when 'ARRAY' then 'an array'
           when 'BOOLEAN' then 'a boolean' when 'NULL' then 'null' else 'a number' end
         when coalesce(trim(event_id), '') = '' and time_text is null
           then 'not a CloudTrail record: it has neither eventID nor eventTime'
         when event_id is null then 'record has no eventID'
         when trim(event_id) = '' then 'record has no eventID: it is empty'
         when time_text is null then 'record has no eventTime'
         when event_time is null then 'eventTime is not a timestamp: ' || {shown}
         when event_time < {early} then 'eventTime ' || {shown} || ' is before CloudTrail '
           || 'existed (it began on {schema.CLOUDTRAIL_BEGAN:%Y-%m-%d}): no such event can be real'
         else 'eventTime ' || {shown} || ' is more than a day after this ingest ran '
           || '({latest - schema.FUTURE_SLACK:%Y-%m-%dT%H:%M:%SZ}): no such event can be real'
       end as reason
from (
  select *, s.eventID as event_id, coalesce(s.eventTime, s."@timestamp") as time_text,
         try_cast(coalesce(s.eventTime, s."@timestamp") as timestamptz) as event_time,
         s.eventTime is null and s."@timestamp" is not null as from_logstash,
         {_SELECT}
  from (
    select file_id, position, outer_s is not null as line_ok, record_text,
           coalesce(record_text, line) as record,
           case when outer_s.CloudTrailEvent is null then outer_s
                else try(json_transform(record_text, '{_STRUCTURE}')) end as s
    from (
      select file_id, position, line, outer_s, outer_s.CloudTrailEvent as record_text
      from (select *, {line_parse} as outer_s from staged))))
"""


def _parse_queries(latest: dt.datetime) -> tuple[str, str]:
    """The parse, and the same tolerant of lines that are not JSON: json_transform stops at
    such a line; under try it gives NULL instead, but try costs a fifth of the parse
    (measured), so it is kept for a batch that has such a line."""
    return (
        _parse_query(f"json_transform(line, '{_STRUCTURE}')", latest),
        _parse_query(f"try(json_transform(line, '{_STRUCTURE}'))", latest),
    )


class _Seen:
    """The eventID of every event stored or being stored, in memory, so that a later copy is
    known for one whatever its other fields say, at a cost that does not grow with the
    database: looking each commit's IDs up in event_store reads all of it every time (0.24 s
    a commit at 2 million events, measured, against 0.1 s for the look-up by time and account
    this replaced, which missed copies with another eventTime or account).

    Each ID is a 64-bit key: the top 48 bits of DuckDB's hash of it, and in the low 16 the day
    (since CloudTrail began) of its stored copy's eventTime, which narrows the look-up that
    confirms a match to the days the copy can be in. The keys are in sorted arrays, merged as
    they grow (a log-structured merge), searched with numpy: 8 bytes an event."""

    DAY = np.uint64(0xFFFF)
    HASH = ~DAY
    US_A_DAY = 86_400_000_000
    FIRST_DAY = int(schema.CLOUDTRAIL_BEGAN.timestamp()) // 86_400

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.levels: list[np.ndarray] = []
        stored = con.sql(
            "select hash(event_id) as h, coalesce(epoch_us(event_time), 0) as t from event_store"
        ).fetchnumpy()
        if len(stored["h"]):
            self.add(np.asarray(stored["h"], np.uint64), np.asarray(stored["t"], np.int64))

    def add(self, hashes: np.ndarray, times_us: np.ndarray) -> None:
        """Remember IDs (by hash) with the time of the copy stored."""
        days = np.clip(times_us // self.US_A_DAY - self.FIRST_DAY, 0, int(self.DAY))
        keys = np.unique((hashes & self.HASH) | days.astype(np.uint64))
        for level in self.levels:  # a key held already (a copy of the same day) adds nothing
            at = np.minimum(np.searchsorted(level, keys), len(level) - 1)
            keys = keys[level[at] != keys]
        if not len(keys):
            return
        self.levels.append(keys)
        while len(self.levels) > 1 and len(self.levels[-2]) <= 2 * len(self.levels[-1]):
            last = self.levels.pop()
            # two sorted runs: the stable sort (timsort) merges them in one pass
            self.levels[-1] = np.sort(np.concatenate([self.levels[-1], last]), kind="stable")

    def find(self, hashes: np.ndarray) -> tuple[np.ndarray, dt.datetime | None, dt.datetime | None]:
        """Which of the hashes may be of a known ID (their top 48 bits), and the days the
        stored copies lie in: None where a day is unknown (a time outside the window)."""
        wanted = np.unique(hashes & self.HASH)
        found = np.zeros(len(wanted), bool)
        first, last = int(self.DAY), 0
        for level in self.levels:
            lo = np.searchsorted(level, wanted, "left")
            hi = np.searchsorted(level, wanted | self.DAY, "right")
            hit = hi > lo
            if hit.any():
                found |= hit
                first = min(first, int((level[lo[hit]] & self.DAY).min()))
                last = max(last, int((level[hi[hit] - 1] & self.DAY).max()))
        began = schema.CLOUDTRAIL_BEGAN
        since = None if first == 0 else began + dt.timedelta(days=first)
        until = None if last == int(self.DAY) else began + dt.timedelta(days=last + 1)
        return wanted[found], since, until


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: tuple[schema.Column, ...],
    rows: Sequence[tuple[object, ...]],
) -> None:
    """Insert Python rows through Arrow: executemany costs a statement per row."""
    arrow = pa.table({c.name: [r[i] for r in rows] for i, c in enumerate(columns)})
    con.register("new_rows", arrow)
    try:
        con.sql(f"insert into {table} select * from new_rows")
    finally:
        con.unregister("new_rows")


@dataclass
class _Commit:
    """Files stored in one transaction, with their parsed rows."""

    files: list[_File]
    parsed: pa.Table
    before: _Commit | None  # the commit submitted just before, if it may still be storing
    known: pa.Table  # event IDs of its records being stored by others (stored_row NULL) and,
    # once its transaction has looked them up, already stored (with the stored copy's row)
    candidates: pa.Array  # IDs the keys in memory say may be stored: looked up in its transaction
    window: tuple[dt.datetime | None, dt.datetime | None]  # the days their stored copies are in
    accounts: tuple[str | None, str | None]  # the range of its records' recipient accounts
    ids: pa.Array  # its IDs, for the commits submitted while it may be storing
    repeats: bool  # some of its records are copies of others in it
    future: Future[None] | None = None
    file_rows: list[_FileRow] = field(default_factory=list)
    conflicts: int = 0


class _Loader:
    """Loads batches of read files into the database; a transaction holds whole files.

    Each batch is parsed as it arrives, outside any transaction. Parsed rows wait on the Python
    side (Arrow) until `commit_rows` are pending; then a store connection, in its own thread,
    stores them in one transaction with one insert, while this one parses the next. The same
    rows cost 30% more to store in batch-sized inserts, and temp tables would be compressed at
    every commit (both measured).

    Two commits are stored at once (storing is the largest cost, and one connection left a core
    idle a third of the time). A commit commits only after the one submitted before it has, and
    is rolled back if that one failed. Which of a commit's records may be duplicates is settled
    here, before it is handed over (`_Seen`, then the IDs of the commits still storing); its
    transaction looks the rest up in event_store and compares each copy with the stored one.
    A copy of what was still being stored is compared once the commit before has committed,
    on a second connection that sees what that one stored.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        run_id: int,
        summary: IngestSummary,
        commit_rows: int,
        latest: dt.datetime,
    ) -> None:
        self.con, self.run_id, self.summary, self.commit_rows = con, run_id, summary, commit_rows
        self.parse, self.parse_tolerant = _parse_queries(latest)
        self.pending: list[tuple[_File, int]] = []  # files waiting to be stored, and their rows
        self.pending_parsed: list[pa.Table] = []  # those rows, in the same order
        self.pending_rows = 0
        self.seen = _Seen(con)
        self.storer = ThreadPoolExecutor(
            max_workers=STORE_WORKERS, thread_name_prefix="trailscope-store"
        )
        self.storing: collections.deque[_Commit] = collections.deque()
        # a connection for each transaction, and one beside it to read what others committed
        self.cursors: queue.SimpleQueue[
            tuple[duckdb.DuckDBPyConnection, duckdb.DuckDBPyConnection]
        ] = queue.SimpleQueue()
        database = con.sql("select current_database()").fetchall()[0][0]
        for _ in range(STORE_WORKERS):
            pair = con.cursor(), con.cursor()
            for cursor in pair:
                cursor.sql(f"USE {_identifier(database)}")  # a cursor starts in the default one
            self.cursors.put(pair)

    def load(self, batch: list[_File]) -> None:
        """Parse a batch; hand what is pending to the store once `commit_rows` records are."""
        readable = [f for f in batch if not f.error and f.result is not None and not f.result.skip]
        # one chunk a batch: an insert from hundreds of small chunks (a file's each) cost
        # several times as much as from the same rows in a few large ones (measured)
        parsed = self._parsed(readable).combine_chunks()
        rows = {f.file_id: f.table.num_rows for f in readable if f.table is not None}
        for f in batch:
            f.table = f.data = None  # free the text before the next batch arrives
        self.pending += [(f, rows.get(f.file_id, 0)) for f in batch]
        self.pending_parsed.append(parsed)
        self.pending_rows += parsed.num_rows
        while self.pending_rows >= self.commit_rows:
            self.commit(self.commit_rows)

    def commit(self, rows: int | None = None) -> None:
        """Store pending files in one transaction.

        With `rows`, only the first files that hold that many records go; the rest wait for
        the next. Commits then end just past a row group, and the few records beyond it cost
        little to commit; a batch's worth beyond it went through the WAL and a checkpoint at
        every commit (a fifth of the cost of storing, measured)."""
        while len(self.storing) >= STORE_WORKERS:
            self._wait()
        take, count = len(self.pending), self.pending_rows
        if rows is not None:
            count = 0
            for take, (_, n) in enumerate(self.pending, 1):  # noqa: B007 - take is used below
                count += n
                if count >= rows:
                    break
        if take:
            parsed = pa.concat_tables(self.pending_parsed)
            mine = parsed.slice(0, count)
            commit = self._duplicates([f for f, _ in self.pending[:take]], mine)
            self.pending = self.pending[take:]
            self.pending_parsed = [parsed.slice(count)]  # perhaps none, for the files left
            self.pending_rows -= count
            commit.future = self.storer.submit(self._transaction, commit)
            self.storing.append(commit)

    def _duplicates(self, files: list[_File], parsed: pa.Table) -> _Commit:
        """A commit of the files, with what is known of its duplicates: the keys in memory say
        which IDs may be stored already; the IDs of the commits still storing, which of those
        are being stored. The rest are looked up in its transaction (`_stored`), which sees
        every commit not storing now. Then its IDs join the keys in memory."""
        valid = parsed.select(["event_id", "id_hash", "event_time", "recipient_account_id"])
        valid = valid.filter(pc.is_null(parsed["reason"])).combine_chunks()
        ids = valid["event_id"].combine_chunks().cast(pa.string())
        hashes = valid["id_hash"].to_numpy()
        maybe, since, until = self.seen.find(hashes)
        known, candidates = EMPTY_KNOWN, EMPTY_KNOWN["event_id"].combine_chunks()
        if len(maybe):
            candidates = pc.unique(ids.filter(pa.array(np.isin(hashes & _Seen.HASH, maybe))))
            storing = pa.concat_arrays([candidates[:0]] + [c.ids for c in self.storing])
            in_flight = pc.is_in(candidates, value_set=storing)
            known = _known(candidates.filter(in_flight))  # no row yet: compared later
            candidates = candidates.filter(pc.invert(in_flight))
        times = valid["event_time"].cast(pa.timestamp("us", "UTC")).cast(pa.int64()).to_numpy()
        self.seen.add(hashes, times)
        unique = pc.unique(ids)
        accounts = pc.min_max(valid["recipient_account_id"])
        return _Commit(
            files,
            parsed,
            self.storing[-1] if self.storing else None,
            known,
            candidates,
            (since, until),
            (accounts["min"].as_py(), accounts["max"].as_py()),
            unique,
            len(unique) < len(ids),
        )

    def finish(self) -> None:
        """Store what is pending and wait until it is committed."""
        try:
            self.commit()
            while self.storing:
                self._wait()
        finally:
            self._close()

    def abandon(self) -> None:
        """After Ctrl-C or a failure: what is pending is dropped; the commits in flight end,
        committed or rolled back (the failure being raised says why), and those that
        committed are counted."""
        try:
            while self.storing:
                try:
                    self._wait()
                except Exception:  # noqa: BLE001, S112 - rolled back: nothing of it was kept
                    continue
        finally:
            self._close()

    def _close(self) -> None:
        self.storer.shutdown()
        while not self.cursors.empty():
            for cursor in self.cursors.get():
                cursor.close()

    def _wait(self) -> None:
        """Wait for the oldest commit; count its files once it has committed."""
        commit = self.storing.popleft()
        assert commit.future is not None
        commit.future.result()  # raises what the store raised
        self._tally(commit.file_rows)
        self.summary.conflicts += commit.conflicts

    def _transaction(self, commit: _Commit) -> None:
        con, lookup = self.cursors.get()
        con.sql("begin transaction")
        try:
            stats, conflicts, copies = self._store(con, commit)
            commit.file_rows = self._file_rows(commit.files, stats)
            _insert_rows(con, "files", schema.FILE_COLUMNS, commit.file_rows)
            if commit.before is not None:  # the commit before this one has committed
                assert commit.before.future is not None
                commit.before.future.result()  # or this raises what it raised
            # every copy this commit's duplicates are of is committed now: compare them
            conflicts += _differing(lookup, copies, commit.window)
            if conflicts:
                _insert_rows(con, "duplicate_conflicts", schema.CONFLICT_COLUMNS, conflicts)
            commit.conflicts = len(conflicts)
            con.sql("commit")
        except BaseException:
            try:
                con.sql("rollback")
            except duckdb.Error:  # a commit that failed has rolled back already
                pass
            raise
        finally:
            for name in ("parsed", "fresh", "known"):
                con.unregister(name)
            self.cursors.put((con, lookup))
            commit.before = None

    def _store(
        self, con: duckdb.DuckDBPyConnection, commit: _Commit
    ) -> tuple[dict[int, tuple[int, int, int, int]], list[_Conflict], pa.Table]:
        """Check parsed lines, store new events; per file (records, stored, dup, rejected), the
        copies that differ from a copy committed before the transaction or from a first copy
        in the commit, and the copies of events that were being stored when it was handed
        over (event_id, file_id, position, text), for `_differing` once those are committed."""
        batch, parsed = commit.files, commit.parsed
        rejected_rows: list[tuple[int, int | None, str, str | None]] = []
        for f in batch:
            if f.error:
                rejected_rows.append((f.file_id, None, f.error, None))
            elif f.result is not None:
                rejected_rows += [(f.file_id, p, why, raw) for p, why, raw in f.result.rejected]
        con.register("parsed", parsed)
        commit.known = _stored(con, commit)
        con.register("known", commit.known)
        for file_id, position, reason, line in con.sql(
            "select file_id, position, reason, coalesce(record_text, line) from parsed "
            "where reason is not null"
        ).fetchall():
            if reason == "invalid JSON":
                reason = formats.reason_for_line(line)
            rejected_rows.append((file_id, position, reason, line))
        fresh = con.sql("""
            select event_id, min(file_id * 4294967296 + position) as first
            from parsed where reason is null
              and event_id not in (select event_id from known)
            group by event_id""").to_arrow_table()
        con.register("fresh", fresh)
        con.sql(f"""
            insert into event_store ({_COLUMNS})
            select {_STORED} from parsed join fresh using (event_id)
            where reason is null and file_id * 4294967296 + position = first""")
        # copies that differ from the copy stored: committed before (its row is known) or in
        # this commit, compared here; copies of what is still being stored, once it is
        conflicts = self._differing_here(con, commit)
        copies = EMPTY_COPIES
        if pc.any(pc.is_null(commit.known["stored_row"])).as_py():
            copies = con.sql(
                "select event_id, file_id, position, coalesce(record_text, line) as text "
                "from parsed where reason is null and event_id in "
                "(select event_id from known where stored_row is null)"
            ).to_arrow_table()
        inner = (
            con.sql("""
            select d.event_id, d.file_id, d.position, coalesce(d.record_text, d.line),
                   k.file_id, k.position, coalesce(k.record_text, k.line)
            from parsed d join fresh using (event_id)
            join parsed k on k.file_id * 4294967296 + k.position = fresh.first
            where d.reason is null and d.file_id * 4294967296 + d.position <> fresh.first
              and coalesce(d.record_text, d.line) <> coalesce(k.record_text, k.line)""").fetchall()
            if commit.repeats
            else []
        )
        conflicts += [
            _Conflict(event_id, file_id, position, kept_file, kept_position, fields, text)
            for event_id, file_id, position, text, kept_file, kept_position, kept in inner
            if (fields := formats.differences(text, kept))
        ]
        # the text is stored: let it go before the rest of the transaction
        con.unregister("parsed")
        parsed = commit.parsed = parsed.drop_columns(["line", "record_text"])
        con.register("parsed", parsed)
        con.sql(
            "insert into event_sources select event_id, file_id, position from parsed "
            "where reason is null"
        )
        if rejected_rows:
            _insert_rows(con, "rejected", schema.REJECTED_COLUMNS, rejected_rows)
        stats: dict[int, tuple[int, int, int, int]] = {}
        for file_id, records, stored, logstash in con.sql("""
                select file_id, count(*), count(first), count(*) filter (where from_logstash)
                from parsed left join fresh
                  on parsed.event_id = fresh.event_id
                 and file_id * 4294967296 + position = first
                where reason is null group by file_id""").fetchall():
            stats[file_id] = (records, stored, records - stored, 0)
            if logstash:
                result = next(f.result for f in batch if f.file_id == file_id)
                assert result is not None  # its records were parsed
                result.note = (
                    f"{logstash} records had no eventTime: event_time taken from "
                    "Logstash @timestamp"
                )
        for file_id, *_ in rejected_rows:
            records, stored, dups, rejected = stats.get(file_id, (0, 0, 0, 0))
            stats[file_id] = (records, stored, dups, rejected + 1)
        return stats, conflicts, copies

    def _differing_here(self, con: duckdb.DuckDBPyConnection, commit: _Commit) -> list[_Conflict]:
        """The copies of events committed before this commit began that differ from the copy
        stored: the stored copies read by their rows, then compared with Arrow, row against
        row (a join in DuckDB with the text cost twice as much, measured), COMPARE_ROWS at a
        time so that the text held is bounded."""
        known = commit.known.filter(pc.is_valid(commit.known["stored_row"]))
        if not known.num_rows:
            return []
        found: list[tuple[Any, ...]] = []
        for start in range(0, commit.parsed.num_rows, COMPARE_ROWS):
            part = commit.parsed.slice(start, COMPARE_ROWS)
            ids = part["event_id"].cast(pa.string())
            copy = pc.and_(pc.is_null(part["reason"]), pc.is_in(ids, value_set=known["event_id"]))
            if not pc.any(copy).as_py():
                continue
            text = pc.coalesce(
                part["record_text"].cast(pa.string()), part["line"].cast(pa.string())
            ).filter(copy)
            ids = ids.filter(copy)
            rows = pc.take(known["stored_row"], pc.index_in(ids, value_set=known["event_id"]))
            con.register("rows", pa.table({"stored_row": pc.unique(rows)}))
            try:
                stored = con.sql(
                    "select r.stored_row, s.record from rows r "
                    "join event_store s on s.rowid = r.stored_row"
                ).to_arrow_table()
            finally:
                con.unregister("rows")
            kept = pc.take(
                stored["record"].cast(pa.string()),
                pc.index_in(rows, value_set=stored["stored_row"]),
            )
            differ = pc.not_equal(text, kept)
            if pc.any(differ).as_py():
                columns = [
                    ids,
                    part["file_id"].filter(copy),
                    part["position"].filter(copy),
                    text,
                    kept,
                ]
                found += zip(*(c.filter(differ).to_pylist() for c in columns), strict=True)
        return _conflicts(con, [(row, formats.differences(row[3], row[4])) for row in found])

    def _parsed(self, files: list[_File]) -> pa.Table:
        """Every line of the files, parsed and typed. A fast-split file that did not split into
        whole JSON objects, or is not UTF-8, is parsed in full instead (which also says exactly
        what is wrong with it) and the batch is parsed again: rare, and never silent."""
        redo = [f for f in files if f.table is None]
        while True:
            for f in redo:
                _read_safely(f, slow=True)
            tables = [f.table for f in files if f.table is not None]
            staged = pa.concat_tables(tables) if tables else EMPTY_LINES
            self.con.register("staged", staged)
            try:
                try:
                    parsed = self.con.sql(self.parse).to_arrow_table()
                except duckdb.Error:  # a line that is not JSON: it is rejected with its reason
                    parsed = self.con.sql(self.parse_tolerant).to_arrow_table()
            finally:
                self.con.unregister("staged")
            # The lines themselves are not copied out of DuckDB: its result keeps the order of
            # its input (preserve_insertion_order), so each row takes its line by place.
            if not (
                parsed["file_id"].equals(staged["file_id"])
                and parsed["position"].equals(staged["position"])
            ):
                raise RuntimeError("DuckDB returned the parsed lines in another order")
            parsed = parsed.append_column("line", staged["line"])
            fast = [f.file_id for f in files if f.result is not None and f.result.fast]
            if not fast:
                return parsed
            invalid = parsed["file_id"].filter(pc.equal(parsed["reason"], "invalid JSON"))
            broken = set(pc.unique(invalid).to_pylist()) & set(fast)
            if not broken:
                return parsed
            redo = [f for f in files if f.file_id in broken]

    def _file_rows(
        self, batch: list[_File], stats: dict[int, tuple[int, int, int, int]]
    ) -> list[_FileRow]:
        """The manifest rows of a commit's files."""
        rows = []
        for f in batch:
            c = f.candidate
            result = f.result
            records, stored, dups, rejected = stats.get(f.file_id, (0, 0, 0, 0))
            note = result.note if result else None
            skip = c.skip or (result.skip if result else None)
            if skip:
                status, note = "skipped", skip
            elif f.error:
                status = "rejected"
                rejected = 0  # the file's row in `rejected` is not a record
            else:
                status = "ingested" if records + rejected else "empty"
            if c.shown != c.path:
                odd = "the file name is not UTF-8: its stray bytes are shown as \\xNN"
                note = f"{note}; {odd}" if note else odd
            fmt = result.format if result else ("unread" if c.skip else "unknown")
            if c.folder:
                fmt = "folder"
            rows.append(
                _FileRow(
                    f.file_id,
                    c.shown,
                    c.size,
                    c.mtime,
                    c.etag,
                    f.sha256,
                    fmt,
                    status,
                    records + rejected,
                    stored,
                    dups,
                    rejected,
                    note,
                    self.run_id,
                )
            )
        return rows

    def _tally(self, rows: list[_FileRow]) -> None:
        """Count a committed commit's files in the summary."""
        s = self.summary
        for row in rows:
            if row.status == "skipped":
                s.files_skipped += 1
                reason = row.note or ""
                s.skipped_reasons[reason] = s.skipped_reasons.get(reason, 0) + 1
                continue
            s.files_read += 1
            s.files_rejected += row.status == "rejected"
            if row.note and row.status == "ingested":
                s.notes.append(f"{row.path}: {row.note}")
            s.records += row.records
            s.stored += row.stored
            s.duplicates += row.duplicates
            s.rejected += row.rejected
            s.bytes_read += row.size


def _stored(con: duckdb.DuckDBPyConnection, commit: _Commit) -> pa.Table:
    """The candidates stored in event_store within the commit's window, each with the row
    of its stored copy: first among the rows of the commit's recipient accounts (a copy is
    nearly always of the same account, and those rows are few to read), then the rest."""
    found = [commit.known]
    rest = commit.candidates
    lo, hi = commit.accounts
    for narrow in (True, False) if lo is not None else (False,):
        if not len(rest):
            break
        where, bounds = _within("event_time", commit.window)
        if narrow:
            where += " and recipient_account_id between $lo and $hi"
            bounds = (bounds or {}) | {"lo": lo, "hi": hi}
        con.register("candidates", pa.table({"event_id": rest}))
        try:
            stored = con.sql(
                "select event_id, rowid as stored_row from event_store "
                f"where event_id in (select event_id from candidates){where}",
                params=bounds,
            ).to_arrow_table()
        finally:
            con.unregister("candidates")
        found.append(_known(stored["event_id"].combine_chunks(), stored["stored_row"]))
        rest = rest.filter(pc.invert(pc.is_in(rest, value_set=found[-1]["event_id"])))
    return pa.concat_tables(found)


def _known(ids: pa.Array, rows: pa.Array | pa.ChunkedArray | None = None) -> pa.Table:
    """IDs known to be stored, with the row of the stored copy (NULL: not committed yet)."""
    if rows is None:
        rows = pa.nulls(len(ids), pa.int64())
    return pa.table({"event_id": ids.cast(pa.string()), "stored_row": rows.cast(pa.int64())})


def _within(
    column: str, window: tuple[dt.datetime | None, dt.datetime | None]
) -> tuple[str, dict[str, Any] | None]:
    """SQL that keeps `column` within the window (since, until; None: unbounded), to follow a
    condition, and its parameters."""
    bounds = {k: v for k, v in zip(("since", "until"), window, strict=True) if v is not None}
    ops = {"since": ">=", "until": "<"}
    return "".join(f" and {column} {ops[k]} ${k}" for k in bounds), bounds or None


class _Conflict(NamedTuple):
    """A row of `duplicate_conflicts` (schema.CONFLICT_COLUMNS)."""

    event_id: str
    file_id: int
    position: int
    kept_file_id: int
    kept_position: int
    fields: str
    raw: str


def _differing(
    lookup: duckdb.DuckDBPyConnection,
    copies: pa.Table,
    window: tuple[dt.datetime | None, dt.datetime | None],
) -> list[_Conflict]:
    """The copies, of events that were being stored when their commit was handed over, whose
    content differs from the copy stored (read on `lookup` once that is committed, within
    `window`)."""
    if not copies.num_rows:
        return []
    where, bounds = _within("s.event_time", window)
    lookup.register("copies", copies)
    try:
        rows = lookup.sql(
            "select c.event_id, c.file_id, c.position, c.text, s.record "
            f"from copies c join event_store s using (event_id) where s.record <> c.text{where}",
            params=bounds,
        ).fetchall()
        return _conflicts(lookup, [(row, formats.differences(row[3], row[4])) for row in rows])
    finally:
        lookup.unregister("copies")


def _conflicts(
    con: duckdb.DuckDBPyConnection, compared: list[tuple[tuple[Any, ...], str]]
) -> list[_Conflict]:
    """Conflicts from (event_id, file_id, position, text, stored) rows and the fields they
    differ in (none: the same content), with the place of the stored copy: the first of the
    event's sources."""
    differ = [(row, fields) for row, fields in compared if fields]
    if not differ:
        return []
    con.register("differ", pa.table({"event_id": [row[0] for row, _ in differ]}))
    try:
        first = dict(
            con.sql(
                "select event_id, min(file_id * 4294967296 + position) from event_sources "
                "where event_id in (select event_id from differ) group by event_id"
            ).fetchall()
        )
    finally:
        con.unregister("differ")
    return [
        _Conflict(e, file_id, position, first[e] >> 32, first[e] & 0xFFFFFFFF, fields, text)
        for (e, file_id, position, text, _), fields in differ
    ]


class _FileRow(NamedTuple):
    """A row of `files` (schema.FILE_COLUMNS)."""

    file_id: int
    path: str
    size: int
    mtime: float
    etag: str | None
    sha256: str | None
    format: str
    status: str
    records: int
    stored: int
    duplicates: int
    rejected: int
    note: str | None
    run_id: int

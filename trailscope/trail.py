"""Trail: the one object the CLI and notebooks share: a DuckDB database of CloudTrail events.

Trail is a façade: it opens the database, parses what the user gave (times, once, into a
Period) and delegates to the analysis layer below it: an `analysis.Analysis` that runs the
query modules on its connection, and the domain modules (findings, sessions, organization,
pivots, report) that take that object. None of them imports Trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from trailscope import findings, organization, pivots, schema, sessions
from trailscope.analysis import Analysis, Query, sql_literal
from trailscope.errors import DatabaseError, UnknownParameter
from trailscope.period import BadTime, Moment, Period, parse_time

if TYPE_CHECKING:
    import polars as pl

    from trailscope.ingest import IngestSummary, Progress
    from trailscope.integrity import VerifySummary

# DuckDB's buffer pool keeps every block it has read until its limit (80% of the machine's
# memory by default): bounded, a timeline of an account's 385,000 events among 2 million peaked
# at 0.93 GB of RSS instead of 1.3 GB, as fast (benchmarks/analysis.py). Ingest sets its own.
MEMORY_LIMIT = "1GB"


class Trail:
    """A DuckDB database of CloudTrail events, and the queries and reports that read it.

    `Trail("trail.duckdb")` opens (or creates) a database read-only: DuckDB lets any number of
    readers share a file but a writer locks everyone else out, so a notebook left open must not
    hold the write lock. `ingest` and `verify` take it only while they run (they fail, saying
    so, while another process has the file open) and give it back. `read_only=True` never
    writes (ingest and verify refuse), as the CLI's analysis commands open it;
    `read_only=False` holds the write lock from open to close, for writing through `trail.con`
    (and an in-memory database is always writable). `trail.con` is the raw DuckDB connection
    for anything the API lacks; the file is attached to it as `trail`, with row groups of
    `schema.ROW_GROUP_SIZE` rows. `trail.analysis` runs the query modules on it. Times (since,
    until, at) are a day or an ISO time, UTC unless they say otherwise (see trailscope.period).
    """

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool | None = None) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        exists = memory or Path(self.path).exists()
        if read_only and not exists:
            raise DatabaseError(f"no database at {self.path}: run `trailscope ingest` first")
        self.read_only = read_only
        self.con = duckdb.connect()
        self.con.sql("SET TimeZone='UTC'")
        self.con.sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
        self._attached: bool | None = None  # None: not attached; else whether writable
        # an in-memory database has no lock to hold, and a new file gets its tables first
        self._attach(writable=memory or read_only is False or not exists)
        if self._attached:
            self.con.sql(schema.ddl())
            if read_only is None and not memory:
                self._attach(writable=False)
        elif not self._has_table("events"):
            self.close()
            raise DatabaseError(f"{self.path} is not a trailscope database (no events table)")
        self.analysis = Analysis(self.con, database=self.path)

    def _attach(self, *, writable: bool) -> None:
        """(Re-)attach the file as `trail`, read-only or writable; the temporary tables the
        analysis keeps live in the connection's own catalog and stay."""
        if self._attached is not None:
            self.con.sql("USE memory")
            self.con.sql("DETACH trail")
            self._attached = None
        options = f"ROW_GROUP_SIZE {schema.ROW_GROUP_SIZE}" + ("" if writable else ", READ_ONLY")
        try:
            self.con.sql(f"ATTACH {sql_literal(self.path)} AS trail ({options})")
        except duckdb.Error as e:
            how = "for writing" if writable else "read-only"
            raise DatabaseError(f"cannot open {self.path} {how}: {e}") from e
        self.con.sql("USE trail")
        self._attached = writable

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """The write lock for one ingest or verify, when the database was opened without it."""
        if self.read_only:
            raise DatabaseError(
                f"{self.path} is open read-only; open it without read_only=True to {what}"
            )
        if self._attached:
            yield
            return
        try:
            self._attach(writable=True)
            self.con.sql(schema.ddl())  # an older database gets the tables added since
            yield
        finally:
            self._attach(writable=False)

    def _has_table(self, name: str) -> bool:
        rows = self.con.sql(
            "select 1 from information_schema.tables where table_name = $name",
            params={"name": name},
        ).fetchall()
        return bool(rows)

    def close(self) -> None:
        self.con.close()
        self._attached = None

    def __enter__(self) -> Trail:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ingest ---------------------------------------------------------------------------------
    def ingest(
        self,
        *sources: str | Path,
        account: Sequence[str] = (),
        region: Sequence[str] = (),
        since: Moment = None,
        until: Moment = None,
        progress: Progress | None = None,
        commit_rows: int | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        s3_region: str | None = None,
        max_file_size: int | None = None,
    ) -> IngestSummary:
        """Read CloudTrail files, folders, export trees or s3:// URLs into the database, adding
        only files the manifest does not hold. `account`, `region`, `since` and `until` prune
        the S3 key layout before files are opened. For s3:// sources the standard AWS chain
        finds credentials, or `profile`; `endpoint_url` points at an S3-compatible store and
        `s3_region` names the bucket's region. A file larger than `max_file_size` bytes once
        inflated (default schema.MAX_FILE_SIZE, 1 GiB) is rejected. See trailscope.ingest for
        the details, and for what a run that stops (Ctrl-C, a full disk) raises."""
        from trailscope.ingest import COMMIT_ROWS, MAX_FILE_SIZE, Filters, S3Options, ingest

        period = Period.of(since, until)
        filters = Filters.make(
            account=account, region=region, since=period.since, until=period.until
        )
        try:
            with self._writing("ingest"):
                return ingest(
                    self.con,
                    [str(s) for s in sources],
                    filters,
                    progress=progress,
                    commit_rows=commit_rows or COMMIT_ROWS,
                    s3=S3Options(profile, endpoint_url, s3_region),
                    max_file_size=max_file_size or MAX_FILE_SIZE,
                )
        finally:
            self.analysis.forget()  # what the query modules computed rests on old events

    def verify(
        self,
        *sources: str | Path,
        public_keys: Sequence[str | Path] = (),
        account: Sequence[str] = (),
        region: Sequence[str] = (),
        since: str | None = None,
        until: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        s3_region: str | None = None,
    ) -> VerifySummary:
        """Prove the database's log files are the ones CloudTrail delivered: check the digest
        files under the sources (local trees or s3:// URLs) and every log file against them,
        and store what was found in integrity_files and integrity_digests (replacing the last
        run's). `public_keys`: files of `aws cloudtrail list-public-keys` output; without them,
        s3:// sources ask ListPublicKeys. The filters narrow it as they narrow ingest. See
        trailscope.integrity."""
        from trailscope.ingest import Filters, S3Options
        from trailscope.integrity import verify

        try:
            with self._writing("verify"):
                return verify(
                    self.con,
                    [str(s) for s in sources],
                    public_keys=public_keys,
                    filters=Filters.make(account=account, region=region, since=since, until=until),
                    s3=S3Options(profile, endpoint_url, s3_region),
                )
        finally:
            self.analysis.forget()

    # analysis -------------------------------------------------------------------------------
    def queries(self) -> dict[str, Query]:
        return dict(self.analysis.modules)

    def query(self, name: str, **params: Any) -> pl.DataFrame:
        """Run the query module `name` from queries/ with named parameters; `since` and `until`
        are a period's bounds, as everywhere (a day: its start, its end). A parameter the
        module does not declare is refused: a misspelt one would be ignored, the answer that
        of no filter."""
        declared = self.analysis.module(name).params
        if unknown := [p for p in params if p not in declared]:
            raise UnknownParameter(
                f"query {name} takes no parameter {', '.join(unknown)} "
                f"(it takes: {', '.join(declared) or 'none'})"
            )
        window = {k: params[k] for k in ("since", "until") if k in params}
        if window:
            params |= {k: v for k, v in Period.of(**window).params().items() if k in window}
        return self.analysis.run(name, **params)

    def sql(self, text: str, **params: Any) -> pl.DataFrame:
        """Run ad-hoc SQL; `$name` placeholders take the keyword arguments."""
        return self.analysis.sql(text, **params)

    def events(self, where: str = "true", **params: Any) -> pl.DataFrame:
        """Events matching a SQL condition, in time order (for notebooks)."""
        return self.sql(
            f"select * from events where {where} order by event_time, event_id", **params
        )

    def report_data(
        self,
        *,
        month: str | None = None,
        since: Moment = None,
        until: Moment = None,
        accounts: Sequence[str] = (),
        generated_at: dt.datetime | None = None,
        allow_list: str | Path | None = None,
        principal: str | None = None,
        session: str | None = None,
    ) -> dict[str, Any]:
        """What the report says, as JSON-ready data (see trailscope.report.build): for a
        calendar `month` (YYYY-MM), or `since`/`until`, or everything the database holds; an
        incident report narrows it to `accounts`, a `principal` (part of the caller's ARN) or
        one root `session` (the AssumeRoot eventID or the issued key). `allow_list` marks
        approved findings as accepted (see trailscope.findings)."""
        from trailscope import report

        scope = report.Scope.of(
            month=month,
            period=Period.of(since, until),
            accounts=accounts,
            principal=principal,
            session=session,
        )
        return report.build(self.analysis, scope, generated_at=generated_at, allow_list=allow_list)

    def report(
        self,
        fmt: str = "html",
        *,
        template_dirs: Sequence[str | Path] = (),
        **scope: Any,
    ) -> str:
        """The root activity report as HTML, Markdown or JSON text: `scope` is what
        report_data takes (month, since, until, accounts, principal, session, allow_list,
        generated_at)."""
        from trailscope import render

        return render.render(self.report_data(**scope), fmt, template_dirs=template_dirs)

    def coverage(
        self, *, since: Moment = None, until: Moment = None, accounts: Sequence[str] = ()
    ) -> dict[str, Any]:
        """What the logs hold of a period and what they lack: days and hours without events per
        account and region, member accounts without logs, warnings (see trailscope.coverage)."""
        from trailscope import coverage

        return coverage.coverage(self.analysis, Period.of(since, until), accounts)

    def evidence(self, found: pl.DataFrame) -> pl.DataFrame:
        """One row per event the findings `found` rest on (see trailscope.report.evidence)."""
        from trailscope import report

        return report.evidence(self.analysis, found)

    def state_at(self, at: Moment) -> dict[str, pl.DataFrame]:
        """The organization's state at `at`, one DataFrame per kind of state (see
        trailscope.organization)."""
        moment = parse_time(at, end=False)
        if moment is None:
            raise BadTime("state_at needs a time")
        return organization.state_at(self.analysis, moment)

    def timeline(
        self,
        *,
        access_key: str | None = None,
        principal: str | None = None,
        principal_like: str | None = None,
        session: str | None = None,
        ip: str | None = None,
        account: str | None = None,
        since: Moment = None,
        until: Moment = None,
        follow: bool = False,
    ) -> pl.DataFrame:
        """Every event connected to an access key, principal, session, IP or account, in time
        order, each with its key's lineage; `follow` adds what was done with keys issued from
        them (see trailscope.pivots)."""
        return pivots.timeline(
            self.analysis,
            pivots.Pivots(
                access_key=access_key,
                principal=principal,
                principal_like=principal_like,
                session=session,
                ip=ip,
                account=account,
                period=Period.of(since, until),
                follow=follow,
            ),
        )

    def summary(
        self,
        *,
        access_key: str | None = None,
        principal: str | None = None,
        principal_like: str | None = None,
        session: str | None = None,
        ip: str | None = None,
        account: str | None = None,
        since: Moment = None,
        until: Moment = None,
        follow: bool = False,
    ) -> pl.DataFrame:
        """What each identity did, over the events the pivots select (all without them): events,
        first and last seen, APIs that succeeded and failed, regions, IPs, user agents, keys
        (see trailscope.pivots)."""
        return pivots.summary(
            self.analysis,
            pivots.Pivots(
                access_key=access_key,
                principal=principal,
                principal_like=principal_like,
                session=session,
                ip=ip,
                account=account,
                period=Period.of(since, until),
                follow=follow,
            ),
        )

    # AssumeRoot sessions and findings -----------------------------------------------------------
    def findings(
        self,
        *,
        severity: str | None = None,
        account: str | None = None,
        since: Moment = None,
        until: Moment = None,
        check: str | Sequence[str] | None = None,
        allow_list: str | Path | None = None,
    ) -> pl.DataFrame:
        """Every check's findings in one frame (see trailscope.findings): `severity` keeps that
        level and worse, `allow_list` (a JSON file) marks approved ones as accepted."""
        return findings.findings(
            self.analysis,
            period=Period.of(since, until),
            severity=severity,
            accounts=[account] if account else [],
            check=check,
            allow_list=allow_list,
        )

    def sessions(
        self, *, account: str | None = None, since: Moment = None, until: Moment = None
    ) -> pl.DataFrame:
        """One row per AssumeRoot call (failed ones too) and per orphan root session."""
        return sessions.sessions(
            self.analysis, period=Period.of(since, until), accounts=[account] if account else []
        )

    def session_timeline(self, session_id: str) -> pl.DataFrame:
        """Every event of one AssumeRoot session in order (the call's eventID or the key)."""
        return sessions.timeline(self.analysis, session_id)

"""Trail: the one object the CLI and notebooks share: a DuckDB database of CloudTrail events."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from trailscope import analysis, schema
from trailscope.errors import DatabaseError

if TYPE_CHECKING:
    import polars as pl

    from trailscope.ingest import IngestSummary, Progress


class Trail:
    """A DuckDB database of CloudTrail events, and the queries and reports that read it.

    `Trail("trail.duckdb")` opens (or creates) a database for ingesting;
    `Trail("trail.duckdb", read_only=True)` opens one for analysis, as the CLI's analysis
    commands do. `trail.con` is the raw DuckDB connection for anything the API lacks; the file
    is attached to it as `trail`, with row groups of `schema.ROW_GROUP_SIZE` rows.
    """

    def __init__(self, path: str | Path = ":memory:", *, read_only: bool = False) -> None:
        self.path = str(path)
        if read_only and self.path != ":memory:" and not Path(self.path).exists():
            raise DatabaseError(f"no database at {self.path}: run `trailscope ingest` first")
        self.con = duckdb.connect()
        options = f"ROW_GROUP_SIZE {schema.ROW_GROUP_SIZE}" + (", READ_ONLY" if read_only else "")
        try:
            self.con.sql(f"ATTACH {analysis.sql_literal(self.path)} AS trail ({options})")
        except duckdb.Error as e:
            self.con.close()
            raise DatabaseError(f"cannot open {self.path}: {e}") from e
        self.con.sql("USE trail")
        self.con.sql("SET TimeZone='UTC'")
        self.read_only = read_only
        if not read_only:
            self.con.sql(schema.ddl())
        elif not self._has_table("events"):
            raise DatabaseError(f"{self.path} is not a trailscope database (no events table)")
        else:  # an older trailscope's database lacks the tables added since: empty ones
            present = self.con.sql(
                "select table_name from information_schema.tables where table_catalog = 'trail'"
            ).fetchall()
            if missing := schema.missing_ddl({name for (name,) in present}):
                self.con.sql(missing)

    def _has_table(self, name: str) -> bool:
        rows = self.con.sql(
            "select 1 from information_schema.tables where table_name = $name",
            params={"name": name},
        ).fetchall()
        return bool(rows)

    def close(self) -> None:
        self.con.close()

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
        since: str | None = None,
        until: str | None = None,
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

        if self.read_only:
            raise DatabaseError(
                f"{self.path} is open read-only; open it with read_only=False to ingest"
            )
        filters = Filters.make(account=account, region=region, since=since, until=until)
        analysis.forget_inputs(self.con)  # what query modules computed rests on old events
        return ingest(
            self.con,
            [str(s) for s in sources],
            filters,
            progress=progress,
            commit_rows=commit_rows or COMMIT_ROWS,
            s3=S3Options(profile, endpoint_url, s3_region),
            max_file_size=max_file_size or MAX_FILE_SIZE,
        )

    # analysis -------------------------------------------------------------------------------
    def queries(self) -> dict[str, analysis.Query]:
        return analysis.load_queries()

    def query(self, name: str, **params: Any) -> pl.DataFrame:
        """Run the query module `name` from queries/ with named parameters."""
        return analysis.run_query(self.con, analysis.get_query(name), **params)

    def sql(self, text: str, **params: Any) -> pl.DataFrame:
        """Run ad-hoc SQL; `$name` placeholders take the keyword arguments."""
        df: pl.DataFrame = self.con.sql(text, params=params or None).pl()
        return df

    def report(
        self,
        fmt: str = "html",
        *,
        month: str | None = None,
        since: str | datetime.datetime | None = None,
        until: str | datetime.datetime | None = None,
        accounts: Sequence[str] = (),
        template_dirs: Sequence[str | Path] = (),
        generated_at: datetime.datetime | None = None,
        allow_list: str | Path | None = None,
        principal: str | None = None,
        session: str | None = None,
    ) -> str:
        """The root activity report as HTML, Markdown or JSON: for a calendar `month`
        (YYYY-MM), or `since`/`until`, or everything the database holds; an incident report
        narrows it to `accounts`, a `principal` (part of the caller's ARN) or one root
        `session` (the AssumeRoot eventID or the issued key). `allow_list` marks approved
        findings as accepted (see trailscope.findings)."""
        from trailscope import render
        from trailscope.report import Scope, build
        from trailscope.sources import parse_time

        if month:
            scope = Scope.month(
                month, accounts=tuple(accounts), principal=principal, session=session
            )
        else:
            focused = principal or session or accounts or since or until
            scope = Scope(
                since=parse_time(since, end=False),
                until=parse_time(until, end=True),
                accounts=tuple(accounts),
                principal=principal,
                session=session,
                title="Incident report" if focused else Scope.title,
            )
        context = build(self, scope, generated_at=generated_at, allow_list=allow_list)
        return render.render(context, fmt, template_dirs=template_dirs)

    def state_at(self, at: str | datetime.datetime) -> dict[str, pl.DataFrame]:
        """The organization's state at `at`, one DataFrame per kind of state (see
        trailscope.organization)."""
        from trailscope import organization

        return organization.state_at(self, at)

    def events(self, where: str = "true", **params: Any) -> pl.DataFrame:
        """Events matching a SQL condition, in time order (for notebooks)."""
        return self.sql(
            f"select * from events where {where} order by event_time, event_id", **params
        )

    def timeline(
        self,
        *,
        access_key: str | None = None,
        principal: str | None = None,
        principal_like: str | None = None,
        session: str | None = None,
        ip: str | None = None,
        account: str | None = None,
        since: str | datetime.datetime | None = None,
        until: str | datetime.datetime | None = None,
        follow: bool = False,
    ) -> pl.DataFrame:
        """Every event connected to an access key, principal, session, IP or account, in time
        order, each with its key's lineage; `follow` adds what was done with keys issued from
        them (see trailscope.pivots)."""
        from trailscope import pivots

        return pivots.timeline(
            self,
            access_key=access_key,
            principal=principal,
            principal_like=principal_like,
            session=session,
            ip=ip,
            account=account,
            since=since,
            until=until,
            follow=follow,
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
        since: str | datetime.datetime | None = None,
        until: str | datetime.datetime | None = None,
        follow: bool = False,
    ) -> pl.DataFrame:
        """What each identity did, over the events the pivots select (all without them): events,
        first and last seen, APIs that succeeded and failed, regions, IPs, user agents, keys
        (see trailscope.pivots)."""
        from trailscope import pivots

        return pivots.summary(
            self,
            access_key=access_key,
            principal=principal,
            principal_like=principal_like,
            session=session,
            ip=ip,
            account=account,
            since=since,
            until=until,
            follow=follow,
        )

    # AssumeRoot sessions and findings (issue 4) -------------------------------------------------
    def findings(
        self,
        *,
        severity: str | None = None,
        account: str | None = None,
        since: str | datetime.datetime | None = None,
        until: str | datetime.datetime | None = None,
        check: str | Sequence[str] | None = None,
        allow_list: str | Path | None = None,
    ) -> pl.DataFrame:
        """Every check's findings in one frame (see trailscope.findings): `severity` keeps that
        level and worse, `allow_list` (a JSON file) marks approved ones as accepted."""
        from trailscope import findings

        return findings.findings(
            self,
            severity=severity,
            account=account,
            since=since,
            until=until,
            check=check,
            allow_list=allow_list,
        )

    def sessions(
        self,
        *,
        account: str | None = None,
        since: str | datetime.datetime | None = None,
        until: str | datetime.datetime | None = None,
    ) -> pl.DataFrame:
        """One row per AssumeRoot call (failed ones too) and per orphan root session."""
        from trailscope import sessions

        return sessions.sessions(self, account=account, since=since, until=until)

    def session_timeline(self, session_id: str) -> pl.DataFrame:
        """Every event of one AssumeRoot session in order (the call's eventID or the key)."""
        from trailscope import sessions

        return sessions.timeline(self, session_id)

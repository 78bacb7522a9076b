"""The trailscope command line: thin commands over the Trail library object."""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from trailscope import __version__
from trailscope.findings import SEVERITIES
from trailscope.period import BadTime, parse_time
from trailscope.schema import MAX_FILE_SIZE

if TYPE_CHECKING:
    from trailscope.ingest import IngestSummary
    from trailscope.trail import Trail

DB_OPTION = click.option(
    "--db",
    "db",
    default="trail.duckdb",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The DuckDB database file.",
)
TABLE_FORMATS = ("table", "line", "csv", "json", "parquet")
REPORT_FORMATS = ("html", "md", "json")
# the format a file's extension names; a bare --output WORD that is a format's name is the
# format, as the AWS CLI's --output is (its text and yaml trailscope does not write)
EXTENSIONS = {
    ".csv": "csv",
    ".json": "json",
    ".parquet": "parquet",
    ".txt": "table",
    ".html": "html",
    ".htm": "html",
    ".md": "md",
    ".markdown": "md",
}
# files people name by formats trailscope does not write: refused, not written as another one
UNWRITTEN = {
    ".pdf": "PDF (write the HTML report and print it to PDF from a browser)",
    ".xlsx": "an Excel workbook (write .csv)",
    ".xls": "an Excel workbook (write .csv)",
    ".ods": "a spreadsheet (write .csv)",
    ".tsv": "tab-separated (write .csv)",
    ".yaml": "YAML (write .json)",
    ".yml": "YAML (write .json)",
    ".jsonl": "JSON lines (write .json: one array)",
    ".ndjson": "JSON lines (write .json: one array)",
    ".docx": "a Word document (write .html or .md)",
}
FORMAT_WORDS = (*TABLE_FORMATS, *REPORT_FORMATS, "markdown", "text", "yaml", "yaml-stream")
FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(TABLE_FORMATS),
    help="Output format: table (the default), line (one field a line, for wide rows), csv "
    "(cells that would run as spreadsheet formulas are defused), json or parquet. Without "
    "it, the --output file's extension picks it (.txt .csv .json .parquet).",
)
OUTPUT_OPTION = click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False),  # as typed: ./json is a file, json the format
    help="Write to this file instead of standard output. A format's bare name is the format "
    "(--output json, as the AWS CLI takes it): for a file of that name, say ./json.",
)
COLUMNS_OPTION = click.option(
    "--columns",
    metavar="A,B,...",
    help="These columns, in this order (all: every one). A table shows a few by default, "
    "the other formats every one.",
)
EXIT_FINDINGS = 4  # --fail-on: a finding at or above the severity, not accepted
EXIT_NO_ASSURANCE = 5  # nothing in scope; or, with --fail-on, coverage incomplete
FAIL_ON_HELP = (
    "Exit 4 when a finding of this severity or worse is present and not accepted by the "
    "allow-list; else exit 5 when the coverage is incomplete (days or member accounts "
    "without logs, records not read). Without it, exit 5 only when nothing in scope has logs."
)
EXIT_REJECTED = 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped
DEBUG_ENV = "TRAILSCOPE_DEBUG"  # set: an unexpected error shows its traceback


def _safe(text: str) -> str:
    """Text for the terminal: log content can hold escape sequences."""
    from trailscope.output import terminal_text

    return terminal_text(text)


class _Error(click.ClickException):
    """A one-line error, with any control characters in it made visible."""

    def format_message(self) -> str:
        return _safe(self.message)


def _time_option(name: str, text: str) -> Callable[[click.decorators.FC], click.decorators.FC]:
    """--since or --until, parsed here, once: a day is its start for --since and its end for
    --until, an ISO time keeps its zone (UTC without one); a bad value stops with one line."""
    end = name == "--until"

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
        try:
            return parse_time(value, end=end)
        except BadTime as e:
            raise click.ClickException(f"{name}: {e}") from e

    return click.option(name, callback=parse, help=text)


SINCE = "From this date (its start) or ISO time (UTC unless it gives a zone)."
UNTIL = "Up to this date (its end) or ISO time (UTC unless it gives a zone)."


@contextmanager
def _errors() -> Iterator[None]:
    """Library errors become one-line messages with exit status 1, not tracebacks."""
    from trailscope.errors import TrailscopeError

    try:
        yield
    except TrailscopeError as e:
        raise _Error(str(e)) from e


class _Cli(click.Group):
    """The group: whatever a command raises ends as one line on standard error, never a
    traceback (unless TRAILSCOPE_DEBUG is set); Ctrl-C ends with exit status 130."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except Exception as e:
            if os.environ.get(DEBUG_ENV):
                raise
            raise _Error(_one_line(e)) from e


def _one_line(e: Exception) -> str:
    """What went wrong, in a line a responder can act on."""
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    if isinstance(e, OSError):
        where = f"{e.filename}: " if e.filename else ""
        return f"{where}{e.strerror or first}"
    if type(e).__module__.split(".")[0] in ("duckdb", "_duckdb"):
        return first  # DuckDB's own words say what is wrong (with the SQL, a value...)
    return (
        f"unexpected error ({type(e).__name__}: {first}); please report it, with the "
        f"traceback {DEBUG_ENV}=1 shows"
    )


def _destination(
    fmt: str | None, given: str | None, formats: tuple[str, ...], default: str
) -> tuple[str, Path | None]:
    """The format and the file, from --format and --output: a bare format name given as
    --output is the format (the AWS CLI's --output); else the file's extension names the
    format unless --format does, and the two must agree."""
    fmt = {"markdown": "md"}.get(fmt or "", fmt)
    output = None if given is None else Path(given)
    if given in FORMAT_WORDS:
        word = {"markdown": "md"}.get(given, given)
        if word not in formats:
            raise click.UsageError(
                f"--output {given}: not a format this command writes (it writes "
                f"{', '.join(formats)}); for a file of that name, give --output ./{given}"
            )
        if fmt is not None and fmt != word:
            raise click.UsageError(f"--format {fmt} and --output {word} name two formats")
        return word, None
    suffix = output.suffix if output is not None else ""
    if suffix.lower() in UNWRITTEN:
        raise click.UsageError(
            f"--output {output}: a {suffix} file is {UNWRITTEN[suffix.lower()]}, which "
            f"trailscope does not write (this command writes {', '.join(formats)})"
        )
    named = EXTENSIONS.get(suffix.lower())
    if fmt is None:
        if named is not None and named not in formats:
            raise click.UsageError(
                f"--output {output}: a {suffix} file is {named}, which this command "
                f"does not write (it writes {', '.join(formats)}); give --format"
            )
        return named or default, output
    if named is not None and named != fmt:
        raise click.UsageError(
            f"--format {fmt}, but --output {output} is named as {named}: say one format"
        )
    return fmt, output


def _columns(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


def _exit(status: str, warnings: list[str]) -> None:
    """Say on standard error what the output cannot vouch for, and exit as `status` says
    (see report.verdict)."""
    for line in warnings:
        click.echo(f"warning: {line}", err=True)
    if status == "findings":
        sys.exit(EXIT_FINDINGS)
    if status in ("empty", "incomplete"):
        sys.exit(EXIT_NO_ASSURANCE)


@contextmanager
def _open(db: Path) -> Iterator[Trail]:
    """Open a database read-only, as every analysis command does."""
    from trailscope.trail import Trail

    with _errors(), Trail(db, read_only=True) as trail:
        yield trail


@click.group(cls=_Cli)
@click.version_option(__version__, prog_name="trailscope")
def cli() -> None:
    """Who used root-level power in an AWS organization, from CloudTrail alone.

    Ingest CloudTrail into a DuckDB file, then ask it questions.

    Exit status: 0 done; 1 error; 2 bad usage; 3 ingest rejected records or verify found
    tampering; 4 findings at or above --fail-on; 5 nothing in scope has logs, or with
    --fail-on the coverage is incomplete.

    Example:

    \b
        trailscope ingest AWSLogs/ --db trail.duckdb
        trailscope list-queries
    """


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@DB_OPTION
@click.option(
    "--account",
    multiple=True,
    help="Only this account (repeatable); prunes the S3 key layout before files are opened.",
)
@click.option("--region", multiple=True, help="Only this region (repeatable).")
@_time_option("--since", "Only days from this date or ISO time (by the key layout).")
@_time_option("--until", "Only days up to this date or ISO time (by the key layout).")
@click.option("--profile", help="AWS profile for s3:// sources (default: the standard chain).")
@click.option("--endpoint-url", help="An S3-compatible store's endpoint, for s3:// sources.")
@click.option("--s3-region", help="The bucket's region, for s3:// sources.")
@click.option(
    "--max-file-size",
    default=f"{MAX_FILE_SIZE // 2**30}GiB",
    show_default=True,
    metavar="SIZE",
    help="Reject a file larger than this once inflated (bytes, or with K, M, G, KiB, MiB, GiB): "
    "CloudTrail's own files are tens of MB; the cap stops a decompression bomb.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress and no summary.")
def ingest(
    sources: tuple[str, ...],
    db: Path,
    account: tuple[str, ...],
    region: tuple[str, ...],
    since: dt.datetime | None,
    until: dt.datetime | None,
    profile: str | None,
    endpoint_url: str | None,
    s3_region: str | None,
    max_file_size: str,
    quiet: bool,
) -> None:
    """Read CloudTrail files into the database, adding only what is new.

    SOURCES are files, folders or s3://bucket/prefix URLs: S3 export trees (AWSLogs/...),
    .json/.json.gz delivery files, JSON arrays, single records, JSON lines, LookupEvents
    output, Parquet exports.
    Exit status: 0 when everything read was stored or was a duplicate of the same content,
    3 when anything was rejected (listed in the summary and the `rejected` table) or a
    duplicate differed from the stored copy (`duplicate_conflicts`), 1 on an error (what was
    committed before it is kept: the summary says what), 130 on Ctrl-C (the same).

    Example:

    \b
        trailscope ingest ~/exports/AWSLogs --db trail.duckdb --since 2026-10-01
        trailscope ingest s3://org-trail-bucket/ --account 111122223333 --profile audit
    """
    # numpy, imported by the ingest, starts a BLAS thread a core; we make no BLAS calls, and
    # they took a share of the CPU the ingest needs
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from trailscope.ingest import IngestInterrupted, IngestStopped
    from trailscope.trail import Trail

    cap = _size(max_file_size)
    progress = None if quiet or not sys.stderr.isatty() else _Progress()
    try:
        with _errors(), Trail(db, read_only=False) as trail:
            summary = trail.ingest(
                *sources,
                account=account,
                region=region,
                since=since,
                until=until,
                progress=progress,
                profile=profile,
                endpoint_url=endpoint_url,
                s3_region=s3_region,
                max_file_size=cap,
            )
    except IngestInterrupted as e:
        _report(e.summary, progress, quiet)
        click.echo(_safe(f"interrupted: {e.summary.kept()}"), err=True)
        sys.exit(EXIT_INTERRUPTED)
    except _Error as e:
        if isinstance(e.__cause__, IngestStopped):
            _report(e.__cause__.summary, progress, quiet)
        raise
    _report(summary, progress, quiet)
    if not summary.ok:
        sys.exit(EXIT_REJECTED)


def _report(summary: IngestSummary, progress: _Progress | None, quiet: bool) -> None:
    """The summary on standard error, log text in it made safe for the terminal."""
    if progress is not None:
        progress.done()
    if not quiet:
        for line in summary.lines():
            click.echo(_safe(line), err=True)


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:([kmg])(i?)b?|b?)\s*$", re.IGNORECASE)


def _size(text: str) -> int:
    """A size as a person writes one: 1GiB, 512M (10**6), 64KiB, 100000 (bytes)."""
    match = _SIZE.match(text)
    size = 0
    if match is not None:
        number, unit, binary = match.groups()
        power = "kmg".index(unit.lower()) + 1 if unit else 0
        size = int(float(number) * (1024 if binary else 1000) ** power)
    if size < 1:
        raise click.BadParameter(
            f"{text!r} is not a size of at least one byte: write 1GiB, 512MiB, 100M or a "
            "number of bytes",
            param_hint="--max-file-size",
        )
    return size


@cli.command()
@click.argument("sources", nargs=-1, required=True)
@DB_OPTION
@click.option(
    "--public-keys",
    "public_keys",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CloudTrail's public keys: a file of `aws cloudtrail list-public-keys` output "
    "(repeatable, one per region). Without it, s3:// sources ask ListPublicKeys.",
)
@click.option("--account", multiple=True, help="Only this account (repeatable).")
@click.option("--region", multiple=True, help="Only this region (repeatable).")
@click.option("--since", help="Only days from this date or ISO time (by the key layout).")
@click.option("--until", help="Only days up to this date or ISO time (by the key layout).")
@click.option("--profile", help="AWS profile for s3:// sources (default: the standard chain).")
@click.option("--endpoint-url", help="An S3-compatible store's endpoint, for s3:// sources.")
@click.option("--s3-region", help="The bucket's region, for s3:// sources.")
@click.option("--quiet", "-q", is_flag=True, help="No summary.")
def verify(
    sources: tuple[str, ...],
    db: Path,
    public_keys: tuple[Path, ...],
    account: tuple[str, ...],
    region: tuple[str, ...],
    since: str | None,
    until: str | None,
    profile: str | None,
    endpoint_url: str | None,
    s3_region: str | None,
    quiet: bool,
) -> None:
    """Prove the logs are the ones CloudTrail delivered, with its signed digest files.

    SOURCES are the trees or s3://bucket/prefix URLs holding the CloudTrail-Digest folders
    (those ingested, as a rule). Every digest's signature and link to the one before is
    checked, and every log file the database holds is read again and hashed: valid,
    modified, appended, not covered by any digest, or deleted (a valid digest lists it, the
    sources lack it). The results go to the integrity_files and integrity_digests tables, the
    report and `trailscope findings --check integrity`. A local copy has no signature for its
    newest digest (S3 keeps it in the object's metadata): those files are unverified.
    Exit status: 0 when nothing was found changed, removed, added or forged, 3 when something
    was (listed in the summary and the tables), 1 on an error.

    Example:

    \b
        aws cloudtrail list-public-keys --region us-east-1 \\
            --start-time 2026-10-01 --end-time 2026-11-01 > keys-us-east-1.json
        trailscope verify ~/exports/AWSLogs --db trail.duckdb --public-keys keys-us-east-1.json
        trailscope verify s3://org-trail-bucket/ --db trail.duckdb --profile audit
    """
    from trailscope.trail import Trail

    with _errors(), Trail(db, read_only=False) as trail:
        summary = trail.verify(
            *sources,
            public_keys=public_keys,
            account=account,
            region=region,
            since=since,
            until=until,
            profile=profile,
            endpoint_url=endpoint_url,
            s3_region=s3_region,
        )
    if not quiet:
        for line in summary.lines():
            click.echo(line, err=True)
    if not summary.ok:
        sys.exit(EXIT_REJECTED)


class _Progress:
    """One status line on the terminal: files, events, MB/s."""

    def __init__(self) -> None:
        self.start = time.monotonic()

    def __call__(self, *, files: int, records: int, bytes_read: int) -> None:
        rate = bytes_read / 2**20 / max(time.monotonic() - self.start, 1e-6)
        click.echo(f"\r{files:,} files  {records:,} events  {rate:,.1f} MB/s ", nl=False, err=True)

    def done(self) -> None:
        click.echo(err=True)


@cli.command()
@click.argument("text")
@DB_OPTION
@FORMAT_OPTION
@OUTPUT_OPTION
def sql(text: str, db: Path, fmt: str | None, output: str | None) -> None:
    """Run ad-hoc SQL against the database (opened read-only).

    Example:

    \b
        trailscope sql "select event_name, count(*) from events group by 1 order by 2 desc"
    """
    from trailscope import output as out

    fmt, path = _destination(fmt, output, TABLE_FORMATS, "table")
    with _open(db) as trail, _errors():
        try:
            df = trail.sql(text)
        except Exception as e:  # DuckDB's own message says what is wrong with the SQL
            raise click.ClickException(str(e).splitlines()[0]) from e
        out.write(df, fmt, path)


def _pivot_options(command: click.decorators.FC) -> click.decorators.FC:
    """The pivots timeline and summary share; every one given must match."""
    options = (
        click.option("--access-key", help="The access key that signed the event."),
        click.option(
            "--principal",
            help="Exactly the caller's ARN or principal ID, a role's "
            "ARN (all its sessions) or an invoking service.",
        ),
        click.option(
            "--principal-like",
            help="A case-insensitive part of the caller's ARN, "
            "principal ID, role ARN, user name or invoking service.",
        ),
        click.option(
            "--session",
            help="A role or federated session ARN, an issued access "
            "key, or the eventID of the call that issued it (an AssumeRoot session).",
        ),
        click.option("--ip", help="The source IP address, exactly."),
        click.option("--account", help="The account that received the event or owns the caller."),
        _time_option("--since", SINCE),
        _time_option("--until", UNTIL),
        click.option(
            "--follow",
            is_flag=True,
            help="Add everything done with keys issued, "
            "hop after hop, from the matching events' keys.",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@DB_OPTION
@_pivot_options
@FORMAT_OPTION
@OUTPUT_OPTION
@COLUMNS_OPTION
def timeline(
    db: Path, fmt: str | None, output: str | None, columns: str | None, **pivots: Any
) -> None:
    """Everything connected to one access key, principal, session, IP or account, in time order.

    Rows are the matching events (reached: pivot), the calls or console sign-ins that issued
    their keys (mint) and, with --follow, what was done with keys issued from them (follow).
    Each row names its key's origin: the long-term key, console sign-in, identity provider or
    AWS service its chain of issuing calls starts from, or not_in_logs where the chain leaves
    the logs.

    Example:

    \b
        trailscope timeline --access-key AKIAIOSFODNN7EXAMPLE --follow
        trailscope timeline --ip 198.51.100.66 --since 2024-12-02 --format csv -o ip.csv
        trailscope timeline --principal arn:aws:iam::111111111111:role/OrgAdmin --follow
        trailscope timeline --session ASIA... --format line --columns all
    """
    from trailscope import output as out
    from trailscope.pivots import TIMELINE_COLUMNS

    fmt, path = _destination(fmt, output, TABLE_FORMATS, "table")
    with _open(db) as trail, _errors():
        df = trail.timeline(**pivots)
        out.write(df, fmt, path, columns=_columns(columns), table=TIMELINE_COLUMNS)


@cli.command()
@DB_OPTION
@_pivot_options
@FORMAT_OPTION
@OUTPUT_OPTION
@COLUMNS_OPTION
def summary(
    db: Path, fmt: str | None, output: str | None, columns: str | None, **pivots: Any
) -> None:
    """What each identity did: events, first and last seen, APIs that succeeded and failed,
    regions, source IPs, user agents, access keys and where those keys came from.

    Every identity, most events first, or those of the events the pivots select.

    Example:

    \b
        trailscope summary --db trail.duckdb
        trailscope summary --access-key ASIAIOSFODNN7EXAMPLE --follow --output json
    """
    from trailscope import output as out
    from trailscope.pivots import SUMMARY_COLUMNS

    fmt, path = _destination(fmt, output, TABLE_FORMATS, "table")
    with _open(db) as trail, _errors():
        df = trail.summary(**pivots)
        out.write(df, fmt, path, columns=_columns(columns), table=SUMMARY_COLUMNS)


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    """NAME=VALUE pairs; an empty VALUE is no value, NULL, as a parameter left out is (an
    empty text would match nothing, or, as a part to look for, everything)."""
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="--param")
        params[name] = value or None
    return params


@cli.command()
@click.argument("name")
@DB_OPTION
@click.option(
    "--param",
    "-p",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter the module declares (repeatable); NAME= with nothing after it is no "
    "value (NULL), as an optional parameter left out is.",
)
@FORMAT_OPTION
@OUTPUT_OPTION
@COLUMNS_OPTION
def query(
    name: str,
    db: Path,
    pairs: tuple[str, ...],
    fmt: str | None,
    output: str | None,
    columns: str | None,
) -> None:
    """Run a query module from queries/ with named parameters.

    Example:

    \b
        trailscope query coverage --db trail.duckdb --format csv
        trailscope query org_state_at --param at=2026-10-07T12:00:00Z
    """
    from trailscope import output as out

    fmt, path = _destination(fmt, output, TABLE_FORMATS, "table")
    with _open(db) as trail, _errors():
        out.write(trail.query(name, **_params(pairs)), fmt, path, columns=_columns(columns))


@cli.command("list-queries")
def list_queries() -> None:
    """List the query modules, their parameters and what they answer.

    Example:

    \b
        trailscope list-queries
    """
    from trailscope.analysis import load_queries

    for q in load_queries().values():
        given = [f"[--param {p}=...]" if p in q.optional else f"--param {p}=..." for p in q.params]
        params = f" ({', '.join(given)})" if given else ""
        click.echo(f"{q.name}{params}\n    {q.title}")


@cli.command()
@DB_OPTION
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["html", "md", "markdown", "json"]),
    help="Report format: html (the default), md or json. Without it, the --output file's "
    "extension picks it (.html .md .json).",
)
@OUTPUT_OPTION
@click.option("--month", metavar="YYYY-MM", help="A calendar month (UTC): the monthly report.")
@_time_option("--since", SINCE)
@_time_option("--until", UNTIL)
@click.option("--account", multiple=True, help="Only this account (repeatable).")
@click.option(
    "--template-dir",
    multiple=True,
    type=click.Path(file_okay=False),
    help="Templates here override the packaged ones (same file names).",
)
@click.option("--principal", help="Only what this caller did (part of its ARN, any case).")
@click.option("--session", help="Only this root session (AssumeRoot eventID or issued key).")
@click.option(
    "--allow-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON allow-list: approved findings are shown as accepted (see README).",
)
@click.option("--fail-on", type=click.Choice(SEVERITIES), help=FAIL_ON_HELP)
def report(
    db: Path,
    fmt: str | None,
    output: str | None,
    month: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    account: tuple[str, ...],
    template_dir: tuple[str, ...],
    principal: str | None,
    session: str | None,
    allow_list: Path | None,
    fail_on: str | None,
) -> None:
    """Write the root activity report: what it covers and what the logs lack, findings with
    their evidence, sessions, organization state, coverage, integrity, the source files.

    One self-contained HTML file (no scripts, nothing fetched; it prints to PDF from a
    browser), GitHub-flavoured Markdown, or JSON of the same content. The report is written
    whatever it found; the exit status says what: 0, or 4 with --fail-on when a finding at or
    above it is present (accepted ones do not count), or 5 when nothing in scope has logs (a
    month without logs, a filter that matches nothing) or, with --fail-on, when the coverage
    is incomplete; warnings go to standard error too.

    Example:

    \b
        trailscope report --db trail.duckdb --month 2026-10 -o october.html
        trailscope report --db trail.duckdb --month 2026-10 -o october.md --fail-on high
        trailscope report --db trail.duckdb --principal alice@example.com --since 2026-10-07
    """
    from trailscope import render
    from trailscope.output import check_output
    from trailscope.report import verdict

    fmt, path = _destination(fmt, output, REPORT_FORMATS, "html")
    with _errors():
        check_output(path)
    with _open(db) as trail, _errors():
        context = trail.report_data(
            month=month,
            since=since,
            until=until,
            accounts=account,
            allow_list=allow_list,
            principal=principal,
            session=session,
        )
        text = render.render(context, fmt, template_dirs=template_dir)
    if path is None:
        click.echo(text, nl=False)
    else:
        path.write_text(text, encoding="utf-8")
        click.echo(f"wrote {path}", err=True)
    complete = not context["warnings"]
    status = verdict(
        context["findings"], complete=complete, empty=context["empty"], fail_on=fail_on
    )
    _exit(status, context["warnings"])


@cli.command()
@click.option(
    "--logs",
    type=click.Path(path_type=Path),
    help="The logs to ingest (default: the sample organization, generated into OUT/sample_logs).",
)
@click.option(
    "--out",
    default="trailscope-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the database and the reports go.",
)
def demo(logs: Path | None, out: Path) -> None:
    """Ingest the sample organization, check it, and write the reports.

    The sample organization is generated by trailscope itself (deterministic: the same files
    as the repository's sample_logs/), so this works in any folder.

    Example:

    \b
        trailscope demo
        trailscope demo --logs ~/exports/AWSLogs --out case-4711
    """
    from trailscope import demo as tour

    with _errors():
        result = tour.run(logs, out)
    for line in (*result.ingest.lines()[:2], *result.lines):
        click.echo(_safe(line))
    click.echo(f"logs:     {result.logs}")
    click.echo(f"database: {result.database}")
    for path in result.reports:
        click.echo(f"report:   {path}")


@cli.command()
def schema() -> None:
    """Print the database schema as Markdown (the same text as docs/schema.md).

    Example:

    \b
        trailscope schema > schema.md
    """
    from trailscope.schema import markdown

    click.echo(markdown(), nl=False)


@cli.command()
@DB_OPTION
@click.option(
    "--severity",
    type=click.Choice(SEVERITIES),
    help="Only findings of this severity or worse.",
)
@click.option("--account", help="Only findings about this account.")
@_time_option("--since", "Only findings from this date (its start) or ISO time (UTC).")
@_time_option("--until", "Only findings up to this date (its end) or ISO time (UTC).")
@click.option(
    "--check",
    "checks",
    multiple=True,
    help="Only this check (repeatable): the name of a check_* query module without its "
    "prefix (duration, task_scope, authorization, orphan, root_outside_assumeroot, org_changes, "
    "integrity, duplicate_conflict).",
)
@click.option(
    "--allow-list",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file of approved break-glass use: matching findings are marked "
    "accepted, not hidden (see README).",
)
@click.option(
    "--evidence",
    is_flag=True,
    help="One row per event each finding rests on (evidence, then context), with its time, "
    "account, region, principal, action, what it named, source IP, user agent and error.",
)
@click.option("--fail-on", type=click.Choice(SEVERITIES), help=FAIL_ON_HELP)
@FORMAT_OPTION
@OUTPUT_OPTION
@COLUMNS_OPTION
def findings(
    db: Path,
    severity: str | None,
    account: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    checks: tuple[str, ...],
    allow_list: Path | None,
    evidence: bool,
    fail_on: str | None,
    fmt: str | None,
    output: str | None,
    columns: str | None,
) -> None:
    """List what the checks found, worst first (then by time): AssumeRoot sessions' duration,
    task scope and caller authorization, orphan root sessions, root use outside AssumeRoot,
    organization changes, log file integrity.

    Exit status: 0; 4 with --fail-on when a finding at or above it is present (accepted ones
    do not count); 5 when nothing in the period and account has logs or, with --fail-on, when
    the coverage is incomplete (said on standard error).

    Example:

    \b
        trailscope findings --db trail.duckdb --severity high
        trailscope findings --check task_scope --allow-list approved.json -o findings.csv
        trailscope findings --since 2026-10-01 --until 2026-10-31 --fail-on high
        trailscope findings --evidence --format line
    """
    from trailscope import output as out
    from trailscope.findings import TABLE_COLUMNS
    from trailscope.report import EVIDENCE_COLUMNS, verdict

    fmt, path = _destination(fmt, output, TABLE_FORMATS, "table")
    accounts = [account] if account else []
    with _open(db) as trail, _errors():
        df = trail.findings(
            severity=severity,
            account=account,
            since=since,
            until=until,
            check=checks or None,
            allow_list=allow_list,
        )
        covered = trail.coverage(since=since, until=until, accounts=accounts)
        shown = trail.evidence(df) if evidence else df
        table = EVIDENCE_COLUMNS if evidence else TABLE_COLUMNS
        out.write(shown, fmt, path, columns=_columns(columns), table=table)
    status = verdict(
        df.iter_rows(named=True),
        complete=covered["complete"],
        empty=covered["empty"],
        fail_on=fail_on,
    )
    _exit(status, covered["warnings"])

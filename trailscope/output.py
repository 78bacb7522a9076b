"""Writing result tables for people and programs: a terminal table, one field a line, CSV safe
to open in a spreadsheet, JSON, or Parquet.

Every text format writes times one way, ISO 8601 in UTC with a Z (2026-10-07T10:00:27Z, with
microseconds only where a column has them); JSON keeps lists as arrays and CSV, which has none,
writes them as JSON text. Parquet keeps the columns' own types. The event ID lists the query
modules write comma-joined (columns named `*_event_ids`) are lists in JSON and Parquet, and
stay comma-joined in the text formats.

Log text is attacker-controlled: in a terminal table or line output every control character
(the escape that starts ANSI and OSC sequences, and the rest) is shown as an escape instead,
while CSV, JSON and Parquet keep the data exact. A time that Python cannot hold (DuckDB's
infinity, year 0 or 290000, from a database written by someone else) is written as DuckDB's
text for it, not a crash.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import polars as pl

from trailscope.errors import TrailscopeError
from trailscope.render import FORMULA_START

FORMATS = ("table", "line", "csv", "json", "parquet")
TABLE_WIDTH = 200  # characters, where the terminal's own width is unknown (a pipe, a file)
# What a terminal acts on instead of showing: C0 controls (ESC starts ANSI/OSC sequences, CR
# and BS overwrite), DEL, C1 controls (U+009B is a one-character CSI), and the directional
# marks, overrides and isolates that reorder what is shown (Trojan Source, CVE-2021-42574).
_OTHER_CONTROLS = "\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_CONTROLS = f"\x00-\x1f{_OTHER_CONTROLS}"
_CONTROL = re.compile(f"[{_CONTROLS}]")
_CONTROL_BUT_LINES = re.compile(f"[\x00-\x08\x0b-\x1f{_OTHER_CONTROLS}]")  # tab, newline kept
# The times Python's datetime holds (years 1 to 9999, less a day at each end, which a time
# zone's offset can cross), in microseconds and days since 1970.
_FIRST_DAY, _LAST_DAY = -719_161, 2_932_895
_FIRST_US, _LAST_US = _FIRST_DAY * 86_400_000_000, _LAST_DAY * 86_400_000_000
_INFINITY_US, _INFINITY_DAY = 2**63 - 1, 2**31 - 1  # how DuckDB hands over infinity


def terminal_text(text: str, *, lines: bool = False) -> str:
    """Text that is safe to print to a terminal: each control character written as an
    escape (\\x1b, \\u202e), newlines and tabs too (they would break a table row) unless
    `lines` keeps them (a report, text of many lines)."""
    return (_CONTROL_BUT_LINES if lines else _CONTROL).sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _out_of_range(df: pl.DataFrame) -> dict[str, pl.Expr]:
    """The date and time columns holding a value Python cannot hold: each with the condition
    that a value is one (the physical values are compared: converting them would fail)."""
    odd = {}
    for name, dtype in df.schema.items():
        if isinstance(dtype, pl.Datetime):
            per_us = {"ms": 1 / 1_000, "us": 1, "ns": 1_000}[dtype.time_unit or "us"]
            lo, hi = (
                max(-(2**63) + 1, min(2**63 - 1, int(t * per_us))) for t in (_FIRST_US, _LAST_US)
            )
        elif dtype == pl.Date:
            lo, hi = _FIRST_DAY, _LAST_DAY
        else:
            continue
        outside = ~pl.col(name).to_physical().is_between(lo, hi)
        if df.select(outside.any()).item():
            odd[name] = outside
    return odd


def times_python_holds(df: pl.DataFrame) -> pl.DataFrame:
    """`df` with each date or time Python cannot hold made NULL (unknown): for code that
    turns rows into Python values (reports, allow-lists)."""
    odd = _out_of_range(df)
    return df.with_columns(
        pl.when(outside).then(None).otherwise(pl.col(name)).alias(name)
        for name, outside in odd.items()
    )


def _time_text(value: int | None, dtype: pl.DataType) -> str | None:
    """DuckDB's text for a date or time of any year: infinity, 0000-06-01, 290000-01-01..."""
    if value is None:
        return None
    infinity = _INFINITY_DAY if dtype == pl.Date else _INFINITY_US
    if abs(value) == infinity:
        return "infinity" if value > 0 else "-infinity"
    if dtype == pl.Date:
        return str(np.datetime64(value, "D"))
    assert isinstance(dtype, pl.Datetime)
    return str(np.datetime64(value, dtype.time_unit or "us")).replace(".000000", "") + "Z"


def times_as_text(df: pl.DataFrame) -> pl.DataFrame:
    """`df` with each date or time column that holds a value Python cannot hold written as
    text, every value of it exact: what table, CSV and JSON output print."""
    odd = _out_of_range(df)
    return df.with_columns(
        pl.Series(
            name,
            [_time_text(v, df.schema[name]) for v in df[name].to_physical().to_list()],
            dtype=pl.String,
        )
        for name in odd
    )


def csv_safe(df: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as formulas, defused with a leading apostrophe."""
    texts = [name for name, dtype in df.schema.items() if dtype == pl.String]
    if not texts:
        return df
    return df.with_columns(
        pl.when(
            pl.col(c).str.starts_with(FORMULA_START[0])
            | pl.any_horizontal(pl.col(c).str.starts_with(p) for p in FORMULA_START[1:])
        )
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in texts
    )


def _bytes_text(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")


def _json_text(value: object) -> str:
    # polars hands a list or array cell over as a series, a struct or map cell as a dict
    cell = value.to_list() if hasattr(value, "to_list") else value
    return json.dumps(cell, default=lambda v: _bytes_text(v) if isinstance(v, bytes) else str(v))


def _nested(df: pl.DataFrame) -> list[str]:
    kinds = (pl.List, pl.Struct, pl.Array, pl.Map)
    return [n for n, t in df.schema.items() if isinstance(t, kinds)]


def plain(df: pl.DataFrame) -> pl.DataFrame:
    """Nested values as JSON text, so CSV can hold them."""
    return df.with_columns(
        pl.col(n).map_elements(_json_text, return_dtype=pl.String) for n in _nested(df)
    )


def _binary_as_text(df: pl.DataFrame) -> pl.DataFrame:
    """BLOB columns (of a query's own making) as text, a byte that is not UTF-8 written
    \\xNN: polars writes no binary to CSV, and panics writing it to JSON."""
    return df.with_columns(
        pl.col(n).map_elements(_bytes_text, return_dtype=pl.String)
        for n, t in df.schema.items()
        if t == pl.Binary
    )


def for_terminal(df: pl.DataFrame) -> pl.DataFrame:
    """`df` as a terminal may show it: nested values as JSON text (which escapes control
    characters), and every control character in text and column names escaped."""
    df = plain(df)
    texts = [n for n, t in df.schema.items() if t == pl.String]
    unsafe = [n for n in texts if df.select(pl.col(n).str.contains(f"[{_CONTROLS}]").any()).item()]
    df = df.with_columns(
        pl.Series(n, [None if v is None else terminal_text(v) for v in df[n]], dtype=pl.String)
        for n in unsafe
    )
    return df.rename({n: terminal_text(n) for n in df.columns if _CONTROL.search(n)})


def check_output(output: Path | None) -> None:
    """Refuse, before any work, a file to write that cannot be: in a folder that is not."""
    if output is None:
        return
    folder = Path(output).parent
    if not folder.is_dir():
        raise TrailscopeError(
            f"cannot write {output}: the folder {folder} does not exist (create it first)"
        )


def id_lists(df: pl.DataFrame) -> pl.DataFrame:
    """The comma-joined `*_event_ids` columns as lists of event IDs (none: an empty list)."""
    return df.with_columns(
        pl.when(pl.col(name).is_null() | (pl.col(name) == ""))
        .then(pl.lit([], dtype=pl.List(pl.String)))
        .otherwise(pl.col(name).str.split(","))
        .alias(name)
        for name, dtype in df.schema.items()
        if name.endswith("_event_ids") and dtype == pl.String
    )


def _readable(df: pl.DataFrame) -> pl.DataFrame:
    """For people: a list of texts as the texts, comma-separated; other nested values as JSON."""
    lists = [n for n, t in df.schema.items() if t == pl.List(pl.String)]
    return plain(df.with_columns(pl.col(n).list.join(", ") for n in lists))


def utc_text(df: pl.DataFrame) -> pl.DataFrame:
    """Times as ISO 8601 text in UTC with a Z; a time without a zone is UTC already (the
    database's times all are)."""
    out = []
    for name, dtype in df.schema.items():
        if not isinstance(dtype, pl.Datetime):
            continue
        column = pl.col(name)
        if dtype.time_zone is not None:
            column = column.dt.convert_time_zone("UTC")
        fraction = bool((df[name].dt.microsecond().fill_null(0) != 0).any())
        out.append(column.dt.strftime(f"%Y-%m-%dT%H:%M:%S{'%.6f' if fraction else ''}Z"))
    return df.with_columns(out) if out else df


def select(
    df: pl.DataFrame, fmt: str, columns: Sequence[str] | None, table: Sequence[str] = ()
) -> pl.DataFrame:
    """The columns to write: those asked for, in that order (`all`: every one); without a
    choice, a terminal table shows `table` (where given) and every other format everything."""
    if columns is None or list(columns) == []:
        return df.select(table) if fmt == "table" and table else df
    if list(columns) == ["all"]:
        return df
    twice = sorted({c for c in columns if list(columns).count(c) > 1})
    if twice:
        raise TrailscopeError(f"--columns: {', '.join(twice)} named twice; name each once")
    unknown = [c for c in columns if c not in df.columns]
    if unknown:
        raise TrailscopeError(
            f"no column {', '.join(unknown)}; the columns are: {', '.join(df.columns)}"
        )
    return df.select(columns)


def _table(df: pl.DataFrame, width: int) -> str:
    buffer = io.StringIO()
    with pl.Config(
        tbl_rows=-1,
        tbl_cols=-1,
        fmt_str_lengths=60,
        tbl_width_chars=width,
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
    ):
        print(df, file=buffer)
    return buffer.getvalue()


def _lines(df: pl.DataFrame) -> str:
    """One field a line, `name  value`, a blank line between records (psql's expanded mode):
    for rows too wide for a table."""
    names = max((len(c) for c in df.columns), default=0)
    records = []
    for n, row in enumerate(df.iter_rows(named=True), 1):
        fields = [f"-- record {n}"]
        fields += [
            f"{k.ljust(names)}  {'' if v is None else ' '.join(str(v).splitlines())}"
            for k, v in row.items()
        ]
        records.append("\n".join(fields) + "\n")
    return "\n".join(records)


def write(
    df: pl.DataFrame,
    fmt: str,
    output: Path | None = None,
    *,
    columns: Sequence[str] | None = None,
    table: Sequence[str] = (),
) -> None:
    """Write `df` in `fmt` to `output`, or to standard output; `columns` and `table` choose the
    columns (see `select`)."""
    if fmt not in FORMATS:
        raise TrailscopeError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    check_output(output)
    df = select(df, fmt, columns, table)
    if fmt in ("json", "parquet"):
        df = id_lists(df)
    if fmt == "parquet":
        if output is None:
            raise TrailscopeError("Parquet is binary: give --output FILE")
        df.write_parquet(output)
        return
    df = utc_text(_binary_as_text(times_as_text(df)))
    if fmt == "csv" and output is not None:  # straight to the file: a pivot's rows are many
        csv_safe(plain(df)).write_csv(output)
        return
    if fmt == "csv":
        text = csv_safe(plain(df)).write_csv()
    elif fmt == "json":
        text = df.write_json() + "\n"
    elif fmt == "line":
        text = _lines(for_terminal(_readable(df)))
    else:
        terminal = output is None and sys.stdout.isatty()
        width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if terminal else TABLE_WIDTH
        text = _table(for_terminal(_readable(df)), width)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            raise TrailscopeError(f"cannot write {output}: {e.strerror or e}") from e

"""Writing result tables for people and programs: a terminal table, one field a line, CSV safe
to open in a spreadsheet, JSON, or Parquet.

Every text format writes times one way, ISO 8601 in UTC with a Z (2026-10-07T10:00:27Z, with
microseconds only where a column has them); JSON keeps lists as arrays and CSV, which has none,
writes them as JSON text. Parquet keeps the columns' own types. The event ID lists the query
modules write comma-joined (columns named `*_event_ids`) are lists in JSON and Parquet, and
stay comma-joined in the text formats.
"""

from __future__ import annotations

import io
import json
import shutil
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from trailscope.errors import TrailscopeError
from trailscope.render import FORMULA_START

if TYPE_CHECKING:
    from pathlib import Path

FORMATS = ("table", "line", "csv", "json", "parquet")
TABLE_WIDTH = 200  # characters, where the terminal's own width is unknown (a pipe, a file)


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


def _json_text(value: object) -> str:
    # polars hands a list cell over as a Series, a struct cell as a dict
    return json.dumps(value.to_list() if isinstance(value, pl.Series) else value, default=str)


def _nested(df: pl.DataFrame) -> list[str]:
    return [n for n, t in df.schema.items() if isinstance(t, (pl.List, pl.Struct, pl.Array))]


def plain(df: pl.DataFrame) -> pl.DataFrame:
    """Nested values as JSON text, so CSV can hold them."""
    return df.with_columns(
        pl.col(n).map_elements(_json_text, return_dtype=pl.String) for n in _nested(df)
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
    df = select(df, fmt, columns, table)
    if fmt in ("json", "parquet"):
        df = id_lists(df)
    if fmt == "parquet":
        if output is None:
            raise TrailscopeError("Parquet is binary: give --output FILE")
        df.write_parquet(output)
        return
    df = utc_text(df)
    if fmt == "csv" and output is not None:  # straight to the file: a pivot's rows are many
        csv_safe(plain(df)).write_csv(output)
        return
    if fmt == "csv":
        text = csv_safe(plain(df)).write_csv()
    elif fmt == "json":
        text = df.write_json() + "\n"
    elif fmt == "line":
        text = _lines(_readable(df))
    else:
        terminal = output is None and sys.stdout.isatty()
        width = shutil.get_terminal_size((TABLE_WIDTH, 24)).columns if terminal else TABLE_WIDTH
        text = _table(_readable(df), width)
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")

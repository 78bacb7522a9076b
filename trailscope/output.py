"""Writing result tables for people and programs: a terminal table, CSV safe to open in a
spreadsheet, JSON, or Parquet."""

from __future__ import annotations

import io
import json
import sys
from typing import TYPE_CHECKING

import polars as pl

from trailscope.errors import TrailscopeError

if TYPE_CHECKING:
    from pathlib import Path

FORMATS = ("table", "csv", "json", "parquet")
# A spreadsheet runs a cell that starts with one of these as a formula; log text is
# attacker-controlled, so such cells get a leading apostrophe (OWASP's advice for CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(df: pl.DataFrame) -> pl.DataFrame:
    """Text cells that a spreadsheet would run as formulas, defused with a leading apostrophe."""
    texts = [name for name, dtype in df.schema.items() if dtype == pl.String]
    if not texts:
        return df
    return df.with_columns(
        pl.when(
            pl.col(c).str.starts_with(_FORMULA_START[0])
            | pl.any_horizontal(pl.col(c).str.starts_with(p) for p in _FORMULA_START[1:])
        )
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in texts
    )


def _json_text(value: object) -> str:
    # polars hands a list cell over as a Series, a struct cell as a dict
    return json.dumps(value.to_list() if isinstance(value, pl.Series) else value, default=str)


def _plain(df: pl.DataFrame) -> pl.DataFrame:
    """Nested values as JSON text, so CSV can hold them."""
    nested = [n for n, t in df.schema.items() if isinstance(t, (pl.List, pl.Struct, pl.Array))]
    return df.with_columns(
        pl.col(n).map_elements(_json_text, return_dtype=pl.String) for n in nested
    )


def write(df: pl.DataFrame, fmt: str, output: Path | None = None) -> None:
    """Write `df` in `fmt` to `output`, or to standard output."""
    if fmt not in FORMATS:
        raise TrailscopeError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet":
        if output is None:
            raise TrailscopeError("Parquet is binary: give --output FILE")
        df.write_parquet(output)
        return
    if fmt == "csv" and output is not None:  # straight to the file: a pivot's rows are many
        csv_safe(_plain(df)).write_csv(output)
        return
    if fmt == "csv":
        text = csv_safe(_plain(df)).write_csv()
    elif fmt == "json":
        text = df.write_json() + "\n"
    else:
        buffer = io.StringIO()
        with pl.Config(
            tbl_rows=-1,
            tbl_cols=-1,
            fmt_str_lengths=60,
            tbl_width_chars=200,
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
        ):
            print(df, file=buffer)
        text = buffer.getvalue()
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")

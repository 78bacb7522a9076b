"""Query modules: plain SQL files in queries/ with a `-- key: value` header that is their contract."""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from trailscope.errors import MissingParameter, TrailscopeError, UnknownQuery

if TYPE_CHECKING:
    import duckdb
    import polars as pl

_HEADER_LINE = re.compile(r"^--\s*(\w+):\s*(.*)$")
REQUIRED_KEYS = ("title", "inputs", "outputs")
KEYS = (*REQUIRED_KEYS, "description", "params", "tags")


@dataclass(frozen=True)
class Query:
    """One query module: its header and its SQL."""

    name: str
    title: str
    description: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    params: tuple[str, ...]
    tags: tuple[str, ...]
    sql: str


def sql_literal(value: Any) -> str:
    """A SQL literal, for text that takes no parameters (ATTACH, generated modules)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "'" + str(value).replace("'", "''") + "'"


def _split(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def parse_query(name: str, text: str) -> Query:
    """Read the header block (the leading `-- key: value` lines) and keep the whole text as SQL."""
    header: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.startswith("--"):
            break
        match = _HEADER_LINE.match(line.strip())
        if match and match.group(1) in KEYS:
            key, value = match.groups()
            header[key] = value.strip()
        elif key:  # a longer value goes on over the next comment lines
            header[key] = f"{header[key]} {line[2:].strip()}".strip()
    missing = [k for k in REQUIRED_KEYS if k not in header]
    if missing:
        raise TrailscopeError(f"query {name}: header lacks {', '.join(missing)}")
    return Query(
        name=name,
        title=header["title"],
        description=header.get("description", ""),
        inputs=_split(header["inputs"]),
        outputs=_split(header["outputs"]),
        params=_split(header.get("params", "")),
        tags=_split(header.get("tags", "")),
        sql=text,
    )


def load_queries() -> dict[str, Query]:
    """Every module shipped in trailscope.queries, by name (the file name without .sql)."""
    folder = files("trailscope.queries")
    return {
        p.name.removesuffix(".sql"): parse_query(p.name.removesuffix(".sql"), p.read_text("utf-8"))
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".sql")
    }


def get_query(name: str) -> Query:
    queries = load_queries()
    if name not in queries:
        known = ", ".join(queries) or "none"
        raise UnknownQuery(f"no query module named {name!r} (known: {known})")
    return queries[name]


def create_input_views(
    con: duckdb.DuckDBPyConnection,
    query: Query,
    modules: dict[str, Query] | None = None,
    params: dict[str, Any] | None = None,
) -> None:
    """Make every module that `query` names in its `inputs:` a temporary table of that name,
    so modules compose instead of copying each other's SQL. A parameter-free module is
    computed once per connection (a view would be computed again by every query naming it);
    `forget_inputs` drops them when the events change. A module with parameters is computed
    afresh with the caller's values of them, which the caller must therefore take too."""
    modules = load_queries() if modules is None else modules
    params = params or {}
    for name in query.inputs:
        module = modules.get(name)
        if module is None:
            continue  # a table
        missing = [p for p in module.params if p not in params]
        if missing:
            raise TrailscopeError(
                f"query {query.name} reads module {name}, whose parameters "
                f"{', '.join(missing)} it does not take"
            )
        if (
            not module.params
            and con.sql(
                "select 1 from duckdb_tables() where temporary and table_name = $name",
                params={"name": name},
            ).fetchall()
        ):
            continue
        create_input_views(con, module, modules, params)
        con.sql(
            f"create or replace temp table {name} as\n{module.sql.rstrip().rstrip(';')}",
            params=_used(module.sql, params),
        )


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters the SQL text itself names: a module may take parameters only to hand
    them to an input module, and DuckDB refuses values for names the statement lacks."""
    return {p: v for p, v in params.items() if re.search(rf"\${p}\b", sql)} or None


def forget_inputs(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the input modules computed so far, because the events they rest on changed."""
    modules = load_queries()
    for (name,) in con.sql("select table_name from duckdb_tables() where temporary").fetchall():
        if name in modules:
            con.sql(f"drop table {name}")


def run_query(con: duckdb.DuckDBPyConnection, query: Query, **params: Any) -> pl.DataFrame:
    """Run a module with DuckDB named parameters (never string formatting) and check its outputs."""
    missing = [p for p in query.params if p not in params]
    if missing:
        raise MissingParameter(f"query {query.name} needs --param for: {', '.join(missing)}")
    create_input_views(con, query, params=params)
    df: pl.DataFrame = con.sql(query.sql, params=_used(query.sql, params)).pl()
    if tuple(df.columns) != query.outputs:
        raise TrailscopeError(
            f"query {query.name} returned columns {df.columns}, its header says {query.outputs}"
        )
    return df

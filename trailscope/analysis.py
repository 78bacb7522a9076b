"""Query modules: plain SQL files in queries/ with a `-- key: value` header that is their contract,
and the Analysis object that runs them on a connection.

The header: `title`, `inputs` (the tables and modules the SQL reads), `outputs` (its columns, in
order) are required; `description`, `params` (DuckDB `$name` parameters; `name = null` makes one
optional, null when not given) and `tags` are optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Any, cast

from trailscope.errors import MissingParameter, TrailscopeError, UnknownQuery

if TYPE_CHECKING:
    import duckdb
    import polars as pl
    from duckdb.sqltypes import DuckDBPyType

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
    optional: frozenset[str] = frozenset()  # parameters written `name = null`: null if not given


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
    params = _split(header.get("params", ""))
    optional = {p.partition("=")[0].strip() for p in params if "=" in p}
    if any(p.partition("=")[2].strip() != "null" for p in params if "=" in p):
        raise TrailscopeError(f"query {name}: a parameter's default can only be null")
    return Query(
        name=name,
        title=header["title"],
        description=header.get("description", ""),
        inputs=_split(header["inputs"]),
        outputs=_split(header["outputs"]),
        params=tuple(p.partition("=")[0].strip() for p in params),
        tags=_split(header.get("tags", "")),
        sql=text,
        optional=frozenset(optional),
    )


def load_queries() -> dict[str, Query]:
    """Every module shipped in trailscope.queries, by name (the file name without .sql)."""
    folder = files("trailscope.queries")
    return {
        p.name.removesuffix(".sql"): parse_query(p.name.removesuffix(".sql"), p.read_text("utf-8"))
        for p in sorted(folder.iterdir(), key=lambda p: p.name)
        if p.name.endswith(".sql")
    }


class Analysis:
    """The query modules on one DuckDB connection: the layer below Trail that the domain modules
    (findings, sessions, organization, pivots) and the report builder take.

    The modules are read and parsed once. `run` executes one with DuckDB named parameters
    (never string formatting), after computing the modules it names in `inputs:` as temporary
    tables of those names, so modules compose instead of copying each other's SQL. Each
    computed table is kept with the parameter values it was computed with and used again by
    any run with the same values (a parameter-free module is computed once per connection);
    `forget` drops them all when the events change. A module run for its own rows is kept only
    when they are filtered (`where`): a pivot's rows can be many.

    Only the methods after `forget` touch the engine: trailscope.spark's SparkAnalysis runs
    the same modules, composed the same way, on Spark SQL.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, *, database: str = ":memory:") -> None:
        self.con = con
        self.database = database  # the file the connection reads, as reports name it
        self.modules = load_queries()
        self._kept: dict[str, tuple[str, str]] = {}  # module -> (its SQL, its parameters)

    def module(self, name: str) -> Query:
        if name not in self.modules:
            known = ", ".join(self.modules) or "none"
            raise UnknownQuery(f"no query module named {name!r} (known: {known})")
        return self.modules[name]

    def run(self, name: str, *, where: str = "", **params: Any) -> pl.DataFrame:
        """The rows of module `name`, in its order; `where` is a condition on its columns, SQL
        of the caller's own with `$name` values taken from `params` like the module's."""
        return self.run_query(self.module(name), where=where, **params)

    def run_query(self, query: Query, *, where: str = "", **params: Any) -> pl.DataFrame:
        """`run` for a query given as a Query (a module or one composed by the caller)."""
        missing = [p for p in query.params if p not in params and p not in query.optional]
        if missing:
            raise MissingParameter(f"query {query.name} needs --param for: {', '.join(missing)}")
        values = {p: params.get(p) for p in query.params} | {
            k: v for k, v in params.items() if k not in query.params
        }
        if where:  # the rows are kept, to be selected from
            self._compute(query, values)
            text = f"select * from {self._kept_table(query.name)}\nwhere {where}"
        else:  # only its inputs are: a pivot's rows can be many, and are asked for once
            self._compute_inputs(query, values)
            text = query.sql
        df = self._frame(text, _used(text, values))
        if tuple(df.columns) != query.outputs:
            raise TrailscopeError(
                f"query {query.name} returned columns {df.columns}, its header says {query.outputs}"
            )
        return df

    def sql(self, text: str, **params: Any) -> pl.DataFrame:
        """Ad-hoc SQL; `$name` placeholders take the keyword arguments."""
        return self._frame(text, params or None)

    def forget(self) -> None:
        """Drop every table computed so far, because the events they rest on changed."""
        for name in self._kept:
            self._drop(name)
        self._kept.clear()

    def rows(self, text: str, **params: Any) -> list[tuple[Any, ...]]:
        """Ad-hoc SQL's rows as tuples, for a few values (counts, bounds)."""
        return self.con.sql(text, params=params or None).fetchall()

    def tables(self) -> set[str]:
        """The tables and views of the database (not the modules computed)."""
        return {t for (t,) in self.rows("select table_name from information_schema.tables")}

    def _frame(self, text: str, params: dict[str, Any] | None) -> pl.DataFrame:
        return frame(self.con.sql(text, params=params))

    def _keep(self, name: str, sql: str, params: dict[str, Any] | None) -> None:
        self.con.sql(f"create or replace temp table {name} as\n{sql}", params=params)

    def _drop(self, name: str) -> None:
        self.con.sql(f"drop table if exists {self._kept_table(name)}")

    def _kept_table(self, name: str) -> str:
        return f"temp.main.{name}"

    def _compute(self, query: Query, values: dict[str, Any]) -> None:
        """Make `query` a temporary table computed with `values`, and every module it reads,
        keeping those already computed with the same ones."""
        own = {p: values.get(p) for p in query.params}
        key = (query.sql, repr(sorted(own.items())))
        if self._kept.get(query.name) == key:
            return
        self._compute_inputs(query, own)
        self._kept.pop(query.name, None)
        self._keep(query.name, query.sql.rstrip().rstrip(";"), _used(query.sql, own))
        self._kept[query.name] = key

    def _compute_inputs(self, query: Query, values: dict[str, Any]) -> None:
        own = {p: values.get(p) for p in query.params}
        for name in query.inputs:
            module = self.modules.get(name)
            if module is None:
                continue  # a table
            missing = [p for p in module.params if p not in query.params]
            if missing:
                raise TrailscopeError(
                    f"query {query.name} reads module {name}, whose parameters "
                    f"{', '.join(missing)} it does not take"
                )
            self._compute(module, own)


# the types polars cannot hold (their DuckDB type ids): they are written as text
_AS_TEXT = frozenset(
    ("interval", "union", "bit", "uhugeint", "bignum", "varint", "time with time zone")
)


def frame(rel: duckdb.DuckDBPyRelation) -> pl.DataFrame:
    """A result as a polars frame, every value as DuckDB gives it. polars reads no INTERVAL,
    UNION or BIGNUM (an error, or a panic inside a list, struct or map), reads a UHUGEINT above
    2**127 as a negative number, BIT as bytes and TIME WITH TIME ZONE without its offset, and
    writes no BLOB inside a list, struct or map to JSON (a panic): those become text as DuckDB
    writes it (01:30:00, 3 months, 101, 12:00:00+02, \\xFF), keeping any nesting around them.
    A BLOB column stays binary (trailscope.output writes it)."""
    columns, changed = [], False
    for name, dtype in zip(rel.columns, rel.types, strict=True):
        target, as_text = _spelled(dtype) if dtype.id != "blob" else ("", False)
        quoted = _quoted(name)
        columns.append(f"cast({quoted} as {target}) as {quoted}" if as_text else quoted)
        changed = changed or as_text
    df: pl.DataFrame = (rel.project(", ".join(columns)) if changed else rel).pl()
    return df


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _spelled(dtype: DuckDBPyType) -> tuple[str, bool]:
    """`dtype` written out with VARCHAR for every part polars cannot hold (struct fields
    quoted: a field can be called BLOB), and whether it has any."""
    if dtype.id in _AS_TEXT or dtype.id == "blob":
        return "VARCHAR", True
    if dtype.id not in ("struct", "list", "array", "map"):
        return str(dtype), False
    # children: a struct's fields, a list's or an array's child (and its size), a map's key
    # and value, each as (name, type)
    children = [(n, t) for n, t in dtype.children if n != "size" or dtype.id != "array"]
    spelled = [(name, *_spelled(cast("DuckDBPyType", child))) for name, child in children]
    changed = any(c for _, _, c in spelled)
    if dtype.id == "list":
        return f"{spelled[0][1]}[]", changed
    if dtype.id == "array":
        return f"{spelled[0][1]}[{dtype.children[1][1]}]", changed
    if dtype.id == "map":
        return f"MAP({spelled[0][1]}, {spelled[1][1]})", changed
    fields = ", ".join(f"{_quoted(name)} {text}" for name, text, _ in spelled)
    return f"STRUCT({fields})", changed


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any] | None:
    """The parameters the SQL text itself names: a module may take parameters only to hand
    them to an input module, and DuckDB refuses values for names the statement lacks."""
    return {p: v for p, v in params.items() if re.search(rf"\${p}\b", sql)} or None

"""The query modules in Spark SQL: their DuckDB SQL translated by sqlglot, with the constructs
sqlglot renders into something Spark rejects, or worse accepts with another meaning, rewritten
here. The modules stay plain DuckDB SQL; what cannot be rendered raises Untranslatable, naming
the construct, and tests/test_spark.py runs every module on both engines and compares the rows.

Each rewrite below names the DuckDB meaning it keeps:
- JSON values as their text: `x -> path` as the JSON text of the value (a string quoted, an
  object's keys in their order), a cast to JSON as the text itself; `->>` stays Spark's get_json_object,
  and json_extract_string of a list of paths becomes a list of them.
- json_type through Spark's variant type, with DuckDB's type names.
- strftime patterns with their literal letters (the T and Z of ISO times) quoted.
- try_strptime as Spark's try_to_timestamp with the same pattern; timezone('UTC', t) as t
  (Spark's session time zone is UTC, as DuckDB's is).
- to_seconds, to_minutes as day-time intervals; epoch with its fraction of a second;
  date_diff('second') as a count of second boundaries.
- arg_min/min_by, arg_max/max_by skipping rows whose value is NULL, as DuckDB's do.
- string_agg with ORDER BY as a sorted collect_list: listagg with several orderings in one
  aggregate fails in Spark; NULL over no rows, as DuckDB's. list() keeps NULLs and its order;
  list(distinct x) is a sorted collect_set, with the NULL it drops put back.
- chr of a code point beyond 255 as the character itself (Spark's chr wraps at 256).
- the rows of an untyped VALUES list cast to the types of its first row.
- a list index only as a positive number written out (sqlglot moves no other to Spark's 0).
- unnest(...) with ordinality numbered from 1, as DuckDB does (posexplode counts from 0).
- len of a list parameter as Spark's size (its length of a string stays length).
- a CTE `as materialized` as a plain CTE: a hint to DuckDB's planner, of no meaning to the
  rows (Spark's planner decides for itself whether to compute a CTE once).
"""

from __future__ import annotations

import functools
import re

import sqlglot
from sqlglot import exp

from trailscope.errors import TrailscopeError


class Untranslatable(TrailscopeError):
    """A DuckDB construct with no Spark SQL rendering that keeps its meaning."""


# DuckDB's names for the JSON types, by Spark's variant type (the part before any `<` or `(`)
_JSON_TYPES = {
    "STRING": "VARCHAR",
    "OBJECT": "OBJECT",
    "ARRAY": "ARRAY",
    "BOOLEAN": "BOOLEAN",
    "BIGINT": "BIGINT",
    "DECIMAL": "DOUBLE",
    "DOUBLE": "DOUBLE",
    "VOID": "NULL",
}
# strftime's directives, in Spark's datetime patterns; anything else is quoted as text
_STRFTIME = {
    "%Y": "yyyy",
    "%m": "MM",
    "%d": "dd",
    "%H": "HH",
    "%M": "mm",
    "%S": "ss",
    "%f": "SSSSSS",
    "%b": "MMM",
    "%B": "MMMM",
    "%I": "hh",
    "%p": "a",
    "%y": "yy",
    "%j": "DDD",
    "%a": "EEE",
    "%A": "EEEE",
    "%%": "%",
}

_NUMBERS = ("%m", "%d", "%H", "%M", "%S", "%I")
_AGGREGATES = ("collect_list", "collect_set")  # the rewrites' own, which sqlglot sees as calls


@functools.lru_cache(maxsize=256)
def spark_sql(sql: str, arrays: frozenset[str] = frozenset()) -> str:
    """One DuckDB statement (a query module's text) as Spark SQL; `arrays` names the
    parameters whose values are lists (DuckDB's len of one is Spark's size)."""
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as e:
        raise Untranslatable(f"sqlglot cannot read it: {e}") from e
    # inner expressions first: a rewrite sees its arguments already rewritten
    for node in reversed(list(tree.dfs())):
        new = _rewrite(node, arrays)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark")


def spark_pattern(strftime: str, *, parse: bool = False) -> str:
    """A strftime pattern as a Spark datetime pattern, its literal text quoted. To `parse`,
    numbers take one letter: Spark then reads one digit or two, as strptime does."""
    out: list[str] = []
    text = ""
    for part in re.split(r"(%.)", strftime):
        if part in _STRFTIME:
            if text:
                out.append(_quoted(text))
                text = ""
            pattern = _STRFTIME[part]
            if parse and part in _NUMBERS:
                pattern = pattern[0]
            out.append(pattern)
        elif part.startswith("%"):
            raise Untranslatable(f"strftime directive {part} has no Spark pattern here")
        else:
            text += part
    if text:
        out.append(_quoted(text))
    return "".join(out)


def _quoted(text: str) -> str:
    """Literal text in a Spark datetime pattern: letters quoted, '' for a quote."""
    if not re.search(r"[A-Za-z']", text):
        return text
    return "'" + text.replace("'", "''") + "'"


def _call(name: str, *args: exp.Expression) -> exp.Expression:
    return exp.Anonymous(this=name, expressions=list(args))


def _expr(value: object) -> exp.Expression:
    """An argument of a node, which sqlglot types as Any."""
    assert isinstance(value, exp.Expression), value
    return value


def _rewrite(node: exp.Expr, arrays: frozenset[str]) -> exp.Expr:
    if (
        isinstance(node, exp.Length)
        and isinstance(node.this, exp.Placeholder)
        and node.this.name in arrays
    ):
        return _call("size", node.this)
    if isinstance(node, exp.Bracket):
        _literal_index(node)
        return node
    if isinstance(node, exp.CTE) and node.args.get("materialized"):
        node.set("materialized", None)  # Spark has no such hint
        return node
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return _expr(node.this)  # JSON is its text in Spark: a cast to it checks nothing more
    if isinstance(node, exp.JSONExtract):
        # DuckDB's `->` is JSON: a string comes back quoted, as to_json writes it; an object
        # or an array as get_json_object writes it, its keys in their order (a variant sorts
        # them)
        value = _call("variant_get", _call("parse_json", node.this.copy()), _json_path(node))
        kind = _call("schema_of_variant", value.copy())
        nested = exp.Or(
            this=exp.Like(this=kind.copy(), expression=exp.Literal.string("OBJECT%")),
            expression=exp.Like(this=kind, expression=exp.Literal.string("ARRAY%")),
        )
        text = _call("get_json_object", node.this, _json_path(node))
        return exp.Case(ifs=[exp.If(this=nested, true=text)], default=_call("to_json", value))
    if isinstance(node, exp.JSONExtractScalar) and isinstance(node.expression, exp.Array):
        # json_extract_string(x, [paths]): the list of their values, as get_json_object's
        paths = node.expression.expressions
        return exp.Array(expressions=[_call("get_json_object", node.this.copy(), p) for p in paths])
    if isinstance(node, exp.JSONType):
        return _json_type(node.this)
    if isinstance(node, exp.TimeToStr):
        fmt = node.args["format"]
        if not isinstance(fmt, exp.Literal):
            raise Untranslatable("strftime with a pattern that is not a literal")
        return _call("date_format", node.this, exp.Literal.string(spark_pattern(fmt.this)))
    if isinstance(node, exp.TimeToUnix):  # epoch(): seconds, with their fraction
        micros = exp.cast(_call("unix_micros", node.this), "double")
        return exp.Div(this=micros, expression=exp.Literal.number(1_000_000))
    if isinstance(node, exp.DateDiff):
        return _date_diff(node)
    if isinstance(node, exp.ArgMin | exp.ArgMax):
        # DuckDB skips rows whose value is NULL; Spark's min_by would return it
        value, order = node.this, node.expression
        guarded = exp.If(this=exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null())))
        guarded.set("true", order)
        node.set("expression", exp.Case(ifs=[guarded]))
        return node
    if isinstance(node, exp.GroupConcat):
        return _string_agg(node)
    if isinstance(node, exp.ArrayAgg):
        return _list(node)
    if isinstance(node, exp.Filter) and not isinstance(node.this, exp.AggFunc):
        return _filtered(node)
    if isinstance(node, exp.Chr):
        return _chr(node)
    if isinstance(node, exp.Values):
        return _typed_values(node)
    if isinstance(node, exp.Select):
        _count_from_one(node)
    if isinstance(node, exp.Anonymous):
        return _function(node)
    return node


def _literal_index(node: exp.Bracket) -> None:
    """sqlglot reads DuckDB's list index 1 as its 0 when it is a number written out (its tree
    counts from 0, as Spark does), and leaves any other as it is, meaning another element (a
    column, an expression, -1 for the last, a slice): those are refused. A key (text) stays."""
    for index in node.expressions:
        if isinstance(index, exp.Literal) and (index.is_string or int(index.this) >= 0):
            continue
        raise Untranslatable(f"a list index other than a number from 1: {node.sql('duckdb')}")


def _json_path(node: exp.JSONExtract) -> exp.Expression:
    path = node.expression
    if isinstance(path, exp.JSONPath):
        return exp.Literal.string(path.sql(dialect="duckdb").strip("'"))
    return _expr(path)


def _json_type(value: exp.Expression) -> exp.Expression:
    """DuckDB's json_type of a JSON text, from Spark's variant schema of it."""
    kind = _call(
        "split_part",
        _call("schema_of_variant", _call("parse_json", value)),
        exp.Literal.string("<"),
        exp.Literal.number(1),
    )
    kind = _call("split_part", kind, exp.Literal.string("("), exp.Literal.number(1))
    ifs = [
        exp.If(this=exp.Literal.string(spark), true=exp.Literal.string(duck))
        for spark, duck in _JSON_TYPES.items()
    ]
    return exp.Case(this=kind, ifs=ifs)


def _date_diff(node: exp.DateDiff) -> exp.Expression:
    unit = node.args.get("unit")
    name = unit.name.lower() if unit is not None else ""
    if name not in ("second", "seconds"):
        raise Untranslatable(f"date_diff by {name or 'an unnamed unit'}")
    # DuckDB counts the second boundaries crossed: whole seconds since the epoch, subtracted
    return exp.Sub(
        this=_call("unix_seconds", node.this), expression=_call("unix_seconds", node.expression)
    )


def _string_agg(node: exp.Expression) -> exp.Expression:
    """string_agg([distinct] x, sep [order by ...]) as array_join over a sorted list, NULL when
    no row has a value; the FILTER of the aggregate, if any, stays around it (sqlglot keeps it
    outside this node)."""
    this = node.this
    separator = node.args.get("separator") or exp.Literal.string(",")
    order: exp.Order | None = None
    if isinstance(this, exp.Order):
        order, this = this, this.this
    distinct = isinstance(this, exp.Distinct)
    if distinct:
        (this,) = this.expressions
    keys = order.expressions if order is not None else []
    if distinct and any(k.this != this for k in keys):
        raise Untranslatable("string_agg(distinct x order by another expression)")
    if distinct:
        values = _call("collect_set", this)
        if keys:
            values = _sorted(values, keys[0], lambda v: v)
    elif keys:
        fields = [
            exp.PropertyEQ(this=exp.to_identifier(f"k{i}"), expression=k.this)
            for i, k in enumerate(keys)
        ]
        fields.append(exp.PropertyEQ(this=exp.to_identifier("v"), expression=this))
        pairs = _call("collect_list", _call("named_struct", *_named(fields)))
        values = _sorted_pairs(pairs, keys)
    else:
        values = _call("collect_list", this)
    joined = _call("array_join", values, separator)
    empty = exp.EQ(this=exp.Count(this=this.copy()), expression=exp.Literal.number(0))
    return exp.If(this=empty, true=exp.Null(), false=joined)


def _list(node: exp.ArrayAgg) -> exp.Expression:
    """list(x [order by ...]): NULLs kept, as DuckDB keeps them (collect_list drops them), in
    the order asked for."""
    this, keys = node.this, []
    if isinstance(this, exp.Order):
        keys, this = this.expressions, this.this
    if isinstance(this, exp.Distinct):
        return _distinct_list(this, keys)
    fields = [
        exp.PropertyEQ(this=exp.to_identifier(f"k{i}"), expression=k.this)
        for i, k in enumerate(keys)
    ]
    fields.append(exp.PropertyEQ(this=exp.to_identifier("v"), expression=this))
    pairs = _call("collect_list", _call("named_struct", *_named(fields)))
    if keys:
        return _sorted_pairs(pairs, keys)
    item = exp.to_identifier("_p")
    value = exp.Dot(this=exp.column(item), expression=exp.to_identifier("v"))
    return _call("transform", pairs, exp.Lambda(this=value, expressions=[item]))


def _distinct_list(distinct: exp.Distinct, keys: list[exp.Ordered]) -> exp.Expression:
    """list(distinct x [order by x]): the set of values sorted, NULL once if any row has none
    (collect_set drops it), last unless NULLS FIRST (DuckDB's default); NULL over no rows."""
    (this,) = distinct.expressions
    if any(k.this != this for k in keys) or len(keys) > 1:
        raise Untranslatable("list(distinct x order by another expression)")
    desc = bool(keys and keys[0].args.get("desc"))
    nulls_first = bool(keys and keys[0].args.get("nulls_first") is True)
    values = _call("sort_array", _call("collect_set", this), exp.Boolean(this=not desc))
    some_null = exp.GT(this=exp.Count(this=exp.Star()), expression=exp.Count(this=this.copy()))
    nulls = exp.If(
        this=some_null,
        true=exp.Array(expressions=[exp.Null()]),
        false=exp.Array(expressions=[]),
    )
    joined = _call("concat", *((nulls, values) if nulls_first else (values, nulls)))
    empty = exp.EQ(this=exp.Count(this=exp.Star()), expression=exp.Literal.number(0))
    return exp.If(this=empty, true=exp.Null(), false=joined)


def _filtered(node: exp.Filter) -> exp.Expression:
    """`agg(...) filter (where c)` whose aggregate a rewrite made an expression of several:
    the filter goes on each aggregate in it."""
    inner = node.this
    for agg in list(inner.find_all(exp.AggFunc, exp.Anonymous)):
        if isinstance(agg, exp.AggFunc) or agg.name.lower() in _AGGREGATES:
            agg.replace(exp.Filter(this=agg.copy(), expression=node.expression.copy()))
    return _expr(inner)


def _named(fields: list[exp.PropertyEQ]) -> list[exp.Expression]:
    out: list[exp.Expression] = []
    for f in fields:
        out += [exp.Literal.string(f.this.name), f.expression]
    return out


def _sorted(values: exp.Expression, key: exp.Ordered, _: object) -> exp.Expression:
    """A set of values sorted as ORDER BY the value itself sorts it (NULLs are never in it)."""
    ascending = not key.args.get("desc")
    return _call("sort_array", values, exp.Boolean(this=ascending))


def _sorted_pairs(pairs: exp.Expression, keys: list[exp.Ordered]) -> exp.Expression:
    """collect_list(named_struct(k0, ..., v)) sorted by the keys, NULLs last unless the ORDER BY
    says otherwise (DuckDB's default), then the values."""
    left, right = exp.to_identifier("_l"), exp.to_identifier("_r")
    comparison: exp.Expression = exp.Literal.number(0)
    for i in reversed(range(len(keys))):
        key = keys[i]
        name = f"k{i}"
        a = exp.Dot(this=exp.column(left), expression=exp.to_identifier(name))
        b = exp.Dot(this=exp.column(right), expression=exp.to_identifier(name))
        desc = bool(key.args.get("desc"))
        nulls_first = bool(key.args.get("nulls_first")) and key.args.get("nulls_first") is True
        less, more = (
            (exp.Literal.number(1), exp.Literal.number(-1))
            if desc
            else (exp.Literal.number(-1), exp.Literal.number(1))
        )
        null_a = exp.Literal.number(-1) if nulls_first else exp.Literal.number(1)
        comparison = exp.Case(
            ifs=[
                exp.If(
                    this=exp.and_(
                        exp.Is(this=a.copy(), expression=exp.Null()),
                        exp.Is(this=b.copy(), expression=exp.Null()),
                    ),
                    true=comparison,
                ),
                exp.If(this=exp.Is(this=a.copy(), expression=exp.Null()), true=null_a),
                exp.If(
                    this=exp.Is(this=b.copy(), expression=exp.Null()),
                    true=exp.Neg(this=null_a.copy()),
                ),
                exp.If(this=exp.LT(this=a.copy(), expression=b.copy()), true=less),
                exp.If(this=exp.GT(this=a.copy(), expression=b.copy()), true=more),
            ],
            default=comparison,
        )
    order = exp.Lambda(this=comparison, expressions=[left, right])
    ordered = _call("array_sort", pairs, order)
    item = exp.to_identifier("_p")
    value = exp.Dot(this=exp.column(item), expression=exp.to_identifier("v"))
    return _call("transform", ordered, exp.Lambda(this=value, expressions=[item]))


def _chr(node: exp.Chr) -> exp.Expression:
    (code,) = node.expressions
    if isinstance(code, exp.Literal) and code.is_int:
        return exp.Literal.string(chr(int(code.this)))
    raise Untranslatable("chr of a value that is not a literal (Spark's chr wraps at 256)")


def _count_from_one(select: exp.Select) -> None:
    """`unnest(...) with ordinality as t(x, n)` numbers from 1; Spark's posexplode, which
    sqlglot renders it as, from 0: n becomes n + 1 wherever the query reads it."""
    for unnest in select.find_all(exp.Unnest):
        offset = unnest.args.get("offset")
        if not isinstance(offset, exp.Identifier) or unnest.parent_select is not select:
            continue
        alias = unnest.args.get("alias")
        table = alias.name if alias is not None else ""
        for column in list(select.find_all(exp.Column)):
            mine = column.parent_select is select and column.table in ("", table)
            if mine and column.name == offset.name:
                one = exp.Literal.number(1)
                column.replace(exp.Paren(this=exp.Add(this=column.copy(), expression=one)))


def _typed_values(node: exp.Values) -> exp.Expression:
    rows = node.expressions
    if not rows:
        return node
    types = [e.args.get("to") if isinstance(e, exp.Cast) else None for e in rows[0].expressions]
    for row in rows[1:]:
        for i, cell in enumerate(row.expressions):
            to = types[i] if i < len(types) else None
            if to is not None and not isinstance(cell, exp.Cast):
                cell.replace(exp.Cast(this=cell.copy(), to=to.copy()))
    return node


def _function(node: exp.Anonymous) -> exp.Expression:
    name = node.name.lower()
    args = node.expressions
    if name in ("to_seconds", "to_minutes"):
        (n,) = args
        zero = exp.Literal.number(0)
        parts = [zero, zero, n, zero] if name == "to_minutes" else [zero, zero, zero, n]
        return _call("make_dt_interval", *parts)
    if name == "timezone":
        zone, value = args
        if not (isinstance(zone, exp.Literal) and zone.this.upper() == "UTC"):
            raise Untranslatable("timezone() to a zone other than UTC")
        return _expr(value)
    if name == "try_strptime":
        value, fmt = args
        if not isinstance(fmt, exp.Literal):
            raise Untranslatable("try_strptime with a pattern that is not a literal")
        pattern = spark_pattern(fmt.this, parse=True)
        return _call("try_to_timestamp", value, exp.Literal.string(pattern))
    return node

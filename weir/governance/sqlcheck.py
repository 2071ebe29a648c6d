"""What SQL the gateway lets through: one read query, made of known parts, over named lake tables.

Everything is decided on the SQLGlot tree, by allow-list: a node type, a
function or a table function that is not listed is refused, so a construct
DuckDB adds tomorrow is refused until someone reads it and lists it. The lists
come from the analytic SQL the example project's models and KPIs are written
in, plus the everyday string, date, list and aggregate functions.

What this module does not decide (which tables a role may read, how columns
are masked) is the policy's; here a table reference is only resolved to a
``layer.name`` or to a CTE in scope.
"""

from __future__ import annotations

import re
from collections.abc import Container
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from weir.engine.sql import PARSE_ERRORS
from weir.errors import AccessDenied, QueryError

# Node types a read query is made of (functions are checked by name, below).
_NODES = frozenset(
    {
        "select", "union", "except", "intersect", "values", "subquery", "with", "cte",
        "from", "join", "where", "group", "having", "qualify", "order", "ordered", "limit",
        "offset", "fetch", "distinct", "window", "windowspec", "filter", "ignorenulls",
        "respectnulls", "lateral", "table", "tablealias", "alias", "aliases", "column",
        "identifier", "star", "dot", "literal", "null", "boolean", "datatype",
        "datatypeparam", "interval", "var", "paren", "tuple", "lambda", "bracket", "slice",
        "propertyeq", "cube", "rollup", "groupingsets", "all", "any", "exists", "in",
        "between", "is", "like", "ilike", "glob", "similarto", "escape", "not", "neg",
        "add", "sub", "mul", "div", "intdiv", "mod", "dpipe", "eq", "neq", "gt", "gte", "lt",
        "lte", "nullsafeeq", "nullsafeneq", "bitwiseand", "bitwiseor", "bitwisexor",
        "bitwisenot", "bitwiseleftshift", "bitwiserightshift", "attimezone", "kwarg",
        "jsonpath", "jsonpathkey", "jsonpathroot", "jsonpathsubscript", "jsonpathwildcard",
    }
)  # fmt: skip

# Functions SQLGlot knows by type (its ``key``), and functions it passes through by name.
_TYPED_FUNCTIONS = frozenset(
    {
        "abs", "acos", "and", "anyvalue", "exists", "approxdistinct", "approxquantile", "argmax",
        "argmin", "array", "arrayagg", "arrayconcat", "arraycontains", "arraycontainsall",
        "arraydistinct", "arrayfilter", "arraymax", "arraymin", "arrayoverlaps", "arraysize",
        "arrayslice", "arraysort", "arraytostring", "ascii", "asin", "atan", "atan2", "avg",
        "bitwiseandagg", "bitwiseoragg", "bitwisexoragg", "case", "cast", "cbrt", "ceil",
        "chr", "coalesce", "columns", "concat", "concatws", "contains", "corr", "cos", "cot",
        "count", "countif", "covarpop", "covarsamp", "cumedist", "currentdate",
        "currenttimestamp", "dateadd", "datebin", "datediff", "datefromparts", "datesub",
        "datetrunc", "day", "dayname", "dayofmonth", "dayofweek", "dayofweekiso", "dayofyear",
        "decode", "degrees", "denserank", "encode", "endswith", "exp", "explode", "extract",
        "factorial", "first", "firstvalue", "flatten", "floor", "format", "frombase64",
        "fromjson", "generateseries", "greatest", "groupconcat", "hour", "if", "initcap",
        "isinf", "isnan", "jarowinklersimilarity", "jsonarray", "jsonextract",
        "jsonextractscalar", "jsonkeys", "jsonobject", "jsontype", "kurtosis", "lag", "last",
        "lastday", "lastvalue", "lead", "least", "left", "length", "levenshtein", "ln", "log",
        "logicaland", "logicalor", "lower", "map", "mapkeys", "max", "md5", "median", "min",
        "minute", "mode", "month", "monthname", "nthvalue", "ntile", "nullif", "or", "pad",
        "percentilecont", "percentiledisc", "percentrank", "pi", "pow", "quantile", "quarter",
        "radians", "rand", "rank", "regexpextract", "regexpextractall", "regexplike",
        "regexpreplace", "regrcount", "regrintercept", "regrr2", "regrslope", "repeat",
        "replace", "reverse", "right", "round", "rownumber", "second", "sha", "sha2", "sign",
        "sin", "skewness", "split", "splitpart", "sqrt", "startswith", "stddev", "stddevpop",
        "stddevsamp", "strposition", "strtotime", "struct", "structextract", "substring",
        "sum", "tan", "timefromparts", "timestampfromparts", "timestamptrunc", "timetostr",
        "timetounix", "tobase64", "todays", "transform", "translate", "trim", "trunc",
        "trycast", "typeof", "unicode", "unixtotime", "unnest", "upper", "uuid", "variance",
        "variancepop", "week", "weekofyear", "xor", "year", "timestampadd", "timestampdiff",
        "timestampsub", "tsordstodate", "tsordstotime", "tsordstotimestamp", "todouble",
        "tonumber", "strtodate", "datetodatestr", "datestrtodate",
        "timestrtotime", "timestrtodate", "timestrtounix", "unixtostr", "bitlength",
        "lowerhex", "hex", "unhex", "stuff", "substringindex", "collate",
    }
)  # fmt: skip
_NAMED_FUNCTIONS = frozenset(
    {
        "age", "arbitrary", "array_extract", "array_has_any", "array_reduce", "array_sort",
        "array_transform", "bar", "base64", "bit_count", "cardinality", "damerau_levenshtein",
        "date_part", "date_sub", "datepart", "element_at", "entropy", "epoch", "epoch_ms",
        "epoch_ns", "epoch_us", "even", "favg", "format_bytes", "formatreadablesize", "fsum",
        "gcd", "geomean", "geometric_mean", "hamming", "hash", "histogram", "iff",
        "ilike_escape", "isfinite", "isodow", "isoyear", "jaccard", "json_array_length",
        "json_contains", "json_exists", "json_structure", "json_valid", "json_value", "lcm",
        "like_escape", "list_aggregate", "list_any_value", "list_avg", "list_cat",
        "list_count", "list_element", "list_extract", "list_first", "list_has",
        "list_has_all", "list_intersect", "list_last", "list_pack", "list_position",
        "list_reduce", "list_reverse", "list_reverse_sort", "list_slice", "list_sort",
        "list_sum", "list_min", "list_max", "list_unique", "list_value", "list_zip",
        "map_extract", "map_values", "mean", "microsecond", "millisecond", "nfc_normalize",
        "now", "prefix", "printf", "product", "regexp_split_to_array", "row",
        "strip_accents", "strlen", "suffix", "sumkahan", "timezone", "to_hours", "to_json",
        "to_microseconds", "to_milliseconds", "to_minutes", "to_months", "to_seconds",
        "to_weeks", "to_years", "try_strptime", "url_decode", "url_encode", "weekday",
        "yearweek", "make_date", "make_time", "make_timestamp", "to_timestamp", "strftime",
        "strptime", "date_diff", "date_add", "date_trunc", "datediff", "time_bucket",
        "quantile_cont", "quantile_disc", "string_split", "str_split", "regexp_matches",
        "list_filter", "list_transform", "list_distinct", "list_concat", "list_contains",
        "array_length", "array_contains", "array_has", "array_has_all", "array_distinct",
        "array_filter", "array_concat", "array_slice", "array_to_string", "lpad", "rpad",
        "ltrim", "rtrim", "instr", "position", "starts_with", "ends_with", "char_length",
        "character_length", "length_grapheme", "lcase", "ucase", "sha1", "sha256", "md5",
        "bool_and", "bool_or", "count_if", "string_agg", "listagg", "list", "array_agg",
        "min_by", "max_by", "arg_min", "arg_max", "first_value", "last_value", "nth_value",
        "var_pop", "var_samp", "stddev_pop", "stddev_samp", "covar_pop", "covar_samp",
        "approx_count_distinct", "approx_quantile", "mad", "kahan_sum", "range",
        "generate_series", "greatest", "least", "struct_pack", "struct_extract", "map_keys",
        "map_entries", "map_from_entries", "to_days", "today", "current_date",
        "current_timestamp", "get_current_time", "julian", "era", "century", "decade",
        "millennium", "nextafter", "round_even", "roundbankers", "isnan", "isinf",
        "signbit", "trunc", "ceil", "floor", "list_grade_up", "list_where", "list_select",
        "contains", "concat_ws", "split_part", "regexp_full_match", "regexp_escape",
        "levenshtein", "editdist3", "jaro_similarity", "jaro_winkler_similarity",
        "mismatches", "repeat", "reverse", "left_grapheme", "right_grapheme", "ord",
        "unicode", "ascii", "chr", "to_base", "from_binary", "to_binary", "from_hex",
        "to_hex", "hex", "unhex", "bin", "format", "dayofweek", "dayofyear",
        "dayofmonth", "weekofyear", "quarter", "last_day", "monthname", "dayname",
        "epoch_sec", "any_value", "first", "last", "median", "mode",
        "list_median", "list_mode", "list_stddev_samp", "list_var_samp", "list_bool_and",
        "list_bool_or", "list_string_agg", "list_kurtosis", "list_skewness", "list_entropy",
        "list_product", "list_approx_count_distinct", "list_histogram", "flatten",
        "array_position", "array_reverse", "array_cat", "unnest", "typeof", "columns",
    }
)  # fmt: skip
# The only functions a query may read rows from besides lake tables: they make rows, they read nothing.
_TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest"})
# Names worth a pointed message (the allow-list would refuse them anyway).
_READERS = ("read_", "parquet_", "iceberg_", "delta_", "sniff_", "glob", "query")
# What a Table node may carry besides its name and alias.
_TABLE_ARGS = frozenset({"this", "db", "alias"})
_READ_ONLY_FIX = "weir sql is read-only: write SELECT (or WITH … SELECT)"


@dataclass(frozen=True)
class TableRef:
    """One reference to a lake table in a query."""

    node: exp.Table
    dataset: str  # layer.name, lower case


def parse_query(sql: str) -> exp.Expr:
    """One read-only statement, or QueryError."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
    except PARSE_ERRORS:
        raise QueryError("cannot parse the SQL", "check the syntax near the error") from None
    except RecursionError:
        raise QueryError("the SQL is nested too deeply", "flatten it with CTEs (WITH …)") from None
    if len(statements) != 1:
        raise QueryError(
            f"expected one statement, got {len(statements)}", "send one SELECT at a time"
        )
    tree = statements[0]
    if not isinstance(tree, (exp.Query, exp.Values)):
        raise QueryError(f"only read queries are allowed, not {tree.key.upper()}", _READ_ONLY_FIX)
    return tree


def function_name(node: exp.Func) -> str:
    """The function's name as SQL writes it (``read_csv``, not SQLGlot's ``readcsv``)."""
    return node.name.lower() if isinstance(node, exp.Anonymous) else node.sql_name().lower()


def check_tree(tree: exp.Expr, trusted: bool = False) -> list[exp.Table]:
    """Refuse any construct not on the allow-lists; returns the query's table references.

    ``trusted`` (SQL weir writes itself) lifts the function allow-list only: the
    node types and table rules still hold, and no function that reads files,
    settings or the engine's catalog is ever let through.
    """
    tables: list[exp.Table] = []
    for node in tree.walk():
        if isinstance(node, exp.Table):
            check_table(node)
            tables.append(node)
        elif isinstance(node, exp.Func):
            _check_function(node, trusted)
        elif node.key not in _NODES:
            if isinstance(node, (exp.Command, exp.Pragma, exp.Set, exp.DDL, exp.DML)):
                raise QueryError("only read queries are allowed", _READ_ONLY_FIX)
            if isinstance(node, (exp.Placeholder, exp.Parameter)):
                raise QueryError(
                    "query parameters are not supported", "write the values into the SQL"
                )
            raise AccessDenied(
                f"{node.key.upper()} is not allowed in a query",
                "write it with plain SELECT, joins, aggregates and window functions",
            )
        elif isinstance(node, exp.Var):
            _check_word(node)
        elif isinstance(node, exp.DataType) and node.this == exp.DataType.Type.USERDEFINED:
            # SQLGlot writes a type it does not know as it was given, unquoted
            raise AccessDenied(
                f"type '{node.args.get('kind')}' is not allowed",
                "cast to a built-in type (VARCHAR, INTEGER, DOUBLE, DATE, TIMESTAMP …)",
            )
    return tables


_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD_PLACES = (exp.Interval, exp.Extract, exp.DataType, exp.DataTypeParam, exp.WindowSpec)


def _check_word(node: exp.Var) -> None:
    """A bare word reaches DuckDB as it is written: only a plain unit or type word may."""
    in_place = isinstance(node.parent, _WORD_PLACES) or (
        isinstance(node.parent, exp.Func) and node.arg_key == "unit"
    )
    if not in_place or not _WORD.match(node.name):
        raise AccessDenied(
            f"'{node.name}' is not allowed here", "quote text as a string, or name a column"
        )


def _check_function(node: exp.Func, trusted: bool) -> None:
    name = function_name(node)
    if isinstance(node.parent, exp.Table) and node.arg_key == "this":
        return  # a table function: _check_table decides
    if name.startswith(_READERS) or _is_denied(name) or node.key.startswith("read"):
        raise AccessDenied(
            f"function {name}() is not allowed",
            "query lake tables by name (layer.table); files and engine internals are off limits",
        )
    if trusted:
        return
    allowed = (
        name in _NAMED_FUNCTIONS
        if isinstance(node, exp.Anonymous)
        else node.key in _TYPED_FUNCTIONS
    )
    if not allowed:
        raise AccessDenied(
            f"function {name}() is not allowed",
            "use the everyday SQL functions (string, date, math, list, aggregate, window)",
        )


def _is_denied(name: str) -> bool:
    return name.startswith(
        ("duckdb_", "pragma_", "current_setting", "getvariable", "getenv")
    ) or name in {
        "which_secret",
        "sql_auto_complete",
        "json_execute_serialized_sql",
        "json_serialize_sql",
        "json_deserialize_sql",
        "current_query",
        "stats",
        "error",
        "setseed",
        "nextval",
        "currval",
        "checkpoint",
        "force_checkpoint",
        "enable_logging",
        "read_text",
        "read_blob",
        "load_extension",
        "test_all_types",
        "test_vector_types",
    }


def check_table(node: exp.Table) -> None:
    """A table reference is a name (no options) or one of the allowed table functions."""
    extra = sorted(k for k, v in node.args.items() if v and k not in _TABLE_ARGS)
    if extra:
        raise AccessDenied(
            f"table option {extra[0].upper()} is not allowed",
            "read a lake table by its name; for older data use as_of",
        )
    target = node.this
    if isinstance(target, exp.Func):
        name = function_name(target)
        if name in _TABLE_FUNCTIONS or target.key in ("generateseries", "explode", "unnest"):
            return
        raise AccessDenied(
            f"function {name}() is not allowed as a table",
            "read lake tables by name (layer.table); range(), generate_series() and "
            "unnest() are the only table functions",
        )
    if not isinstance(target, exp.Identifier):
        raise AccessDenied(f"{target.key.upper()} is not allowed as a table", "name a lake table")
    name = target.name
    if not node.db and ("/" in name or "\\" in name or "." in name or ":" in name):
        raise AccessDenied(
            f"reading files is not allowed ('{name}')", "query lake tables by name (layer.table)"
        )
    for part in (name, node.db):
        if part and not part.isascii():
            raise QueryError(
                f"'{part}' is not a table name", "lake table names are ASCII: layer.table"
            )


def lake_tables(tables: list[exp.Table], known: Container[str]) -> list[TableRef]:
    """The lake tables a query reads; a name that is neither one nor a CTE in scope is refused."""
    refs: list[TableRef] = []
    for node in tables:
        if isinstance(node.this, exp.Func):
            continue
        if node.args.get("catalog"):
            raise AccessDenied(
                f"'{node.sql('duckdb')}' is not a lake table", "write it as layer.table"
            )
        if not node.db:
            if names_cte_in_scope(node):
                continue
            raise QueryError(
                f"'{node.name}' is not a table or a CTE of this query",
                f"write lake tables as layer.table, e.g. marts.{node.name.lower()}",
            )
        dataset = f"{node.db.lower()}.{node.name.lower()}"
        if dataset not in known:
            raise AccessDenied(
                f"no lake table {dataset} you may read",
                "list the datasets you may read in the catalog, or ask for a grant",
            )
        refs.append(TableRef(node, dataset))
    return refs


def names_cte_in_scope(table: exp.Table) -> bool:
    """Whether an unqualified name means a CTE visible where it is used.

    A CTE is visible in its query's body, in the CTEs after it, and in itself
    when the WITH is RECURSIVE; anything else would reach DuckDB's catalog,
    whose system views would tell paths and settings.
    """
    name = table.name.lower()
    child: exp.Expr = table
    parent = table.parent
    while parent is not None:
        if isinstance(parent, exp.With):
            ctes = parent.expressions
            index = next(i for i, cte in enumerate(ctes) if cte is child)
            visible = ctes[: index + 1] if parent.args.get("recursive") else ctes[:index]
            if any(cte.alias.lower() == name for cte in visible):
                return True
        else:
            with_ = parent.args.get("with_")
            if (
                isinstance(with_, exp.With)
                and with_ is not child
                and any(cte.alias.lower() == name for cte in with_.expressions)
            ):
                return True
        child, parent = parent, parent.parent
    return False

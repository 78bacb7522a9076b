"""The project's conventions, checked rather than remembered."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import duckdb
import pytest
from click.testing import CliRunner

from tests.conftest import ROOT
from trailscope import schema
from trailscope.analysis import KEYS, REQUIRED_KEYS, load_queries
from trailscope.cli import cli


def _commands() -> list[tuple[str, click.Command]]:
    assert isinstance(cli, click.Group)
    return [("", cli), *sorted(cli.commands.items())]


@pytest.mark.parametrize("name,command", _commands())
def test_every_command_has_help_with_an_example(name: str, command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*([name] if name else []), "--help"])
    assert result.exit_code == 0
    assert command.help and "Example:" in result.output


def test_import_of_the_cli_loads_no_heavy_library() -> None:
    code = (
        "import sys, trailscope.cli; "
        "print(sorted(m for m in ('duckdb', 'polars', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# above the analysis layer: the package root re-exports Trail, the CLI and the demo drive it,
# and trailscope.spark's SparkTrail is a Trail on Spark
ABOVE_TRAIL = {
    "trailscope",
    "trailscope.trail",
    "trailscope.cli",
    "trailscope.demo",
    "trailscope.spark",
}


def _modules() -> list[str]:
    paths = sorted((ROOT / "trailscope").rglob("*.py"))
    names = [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths]
    return [n.removesuffix(".__init__") for n in names if not n.endswith("__main__")]


def _imports(module: str) -> set[str]:
    """Every trailscope module `module` imports, at its top, in a function or for typing."""
    path = ROOT.joinpath(*module.split("."))
    source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
    return {n for n in found if n.startswith("trailscope")}


def test_nothing_below_trail_imports_it() -> None:
    """Trail delegates down to the analysis layer (analysis.Analysis and the domain modules
    that take it); no module below imports Trail back, not even for typing or in a function;
    and importing every one of them loads no trailscope.trail."""
    below = [m for m in _modules() if m not in ABOVE_TRAIL]
    assert {"trailscope.analysis", "trailscope.findings", "trailscope.report"} <= set(below)
    for module in below:
        assert "trailscope.trail" not in _imports(module), module
    code = (
        "import importlib, sys\n"
        f"for m in {below!r}:\n"
        "    importlib.import_module(m)\n"
        "print('trailscope.trail' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_every_query_module_has_its_header() -> None:
    queries = load_queries()
    assert queries
    for path in sorted((ROOT / "queries").glob("*.sql")):
        header = [ln for ln in path.read_text().splitlines() if ln.startswith("-- ")]
        keys = {m.group(1) for ln in header if (m := re.match(r"^--\s*(\w+):", ln))}
        assert set(REQUIRED_KEYS) <= keys <= set(KEYS) | {"note"}, path.name
        assert path.stem in queries


def _reads(sql: str) -> set[str]:
    """The tables a module's SQL reads: each name after from or join that is not one of its own
    CTEs (`name as (`, `name(columns) as (`, `name as materialized (`; comments and string
    literals left out)."""
    code = re.sub(r"/\*.*?\*/|--[^\n]*|'[^']*'", "", sql, flags=re.DOTALL)
    ctes = re.findall(r"\b(\w+)(?:\([\w\s,]*\))? as (?:materialized )?\(", code)
    return set(re.findall(r"(?<!distinct )\b(?:from|join)\s+(\w+)", code)) - set(ctes)


@pytest.mark.parametrize("name", sorted(load_queries()))
def test_inputs_name_exactly_what_the_module_reads(name: str) -> None:
    """Modules compose through their inputs headers instead of copying each other's SQL, so
    each header names every module and table its SQL reads, and nothing else; a module that
    reads a module with parameters takes those parameters too, to hand them on."""
    queries = load_queries()
    query = queries[name]
    tables = {i for i in query.inputs if "." not in i}  # a data file (task_policies.json) is
    assert _reads(query.sql) == tables  # an input too, written into the SQL
    for module in set(query.inputs) & set(queries):
        assert set(queries[module].params) <= set(query.params), f"{name} reads {module}"


def test_schema_doc_is_generated_and_matches_the_real_tables(tmp_path: Path) -> None:
    assert (ROOT / "docs" / "schema.md").read_text() == schema.markdown(), (
        "regenerate with: trailscope schema > docs/schema.md"
    )
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.sql(schema.ddl())
    for table, (columns, _) in schema.TABLES.items():
        real = con.sql(f"describe {table}").fetchall()
        spelled = {"TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE"}  # how DuckDB describes it
        assert [(r[0], r[1]) for r in real] == [
            (c.name, spelled.get(c.type, c.type)) for c in columns
        ], table


def test_readme_commands_and_ci_agree() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", readme, re.DOTALL)
    demo, tests = blocks[0], blocks[1]
    assert demo.endswith("trailscope demo") and "\n" not in demo  # on sample_logs/ by default
    assert "pytest" in tests and "\n" not in tests
    assert tests in (ROOT / ".ci" / "run").read_text()


@pytest.mark.slow
def test_wheel_ships_queries_and_reports(tmp_path: Path) -> None:
    # built from a copy of the checkout: setuptools builds in the source tree's build/, where a
    # file deleted from queries/ would linger from an earlier build
    import shutil

    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "*.egg-info", "__pycache__", "*.duckdb", "trailscope-demo"
        ),
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("trailscope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for sql in (ROOT / "queries").glob("*.sql"):
        assert f"trailscope/queries/{sql.name}" in names
    for template in (ROOT / "reports").glob("*.jinja"):
        assert f"trailscope/reports/{template.name}" in names
    for data in (ROOT / "trailscope").glob("*.json"):
        assert f"trailscope/{data.name}" in names
    assert not any(n.startswith(("sample_logs/", "tests/")) for n in names)
    # installed on its own, away from the checkout, it still finds its query modules
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import json, trailscope.analysis as a; "
        "print(a.__file__); print(json.dumps(sorted(a.load_queries())))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(target)},
    )
    where, names_out = out.stdout.splitlines()
    assert where.startswith(str(target))
    assert json.loads(names_out) == sorted(load_queries())
    # and the README's first command works there, in an empty folder: the package generates
    # the sample organization itself
    empty = tmp_path / "empty"
    empty.mkdir()
    demo = subprocess.run(
        [sys.executable, "-m", "trailscope", "demo"],
        check=False,
        capture_output=True,
        text=True,
        cwd=empty,
        env={"PYTHONPATH": str(target)},
    )
    assert demo.returncode == 0, demo.stderr
    assert "records: 20,128 read, 20,121 stored, 7 duplicates, 0 rejected" in demo.stdout
    assert (empty / "trailscope-demo" / "report.html").stat().st_size > 1000


def _python_floor(spec: str) -> tuple[int, ...]:
    """The lowest Python a `>=3.x` specifier admits."""
    match = re.fullmatch(r"\s*>=\s*(\d+(?:\.\d+)*)\s*", spec)
    assert match, f"requires-python {spec!r} is not of the form >=X.Y"
    return tuple(int(p) for p in match.group(1).split("."))


def test_requires_python_is_what_the_dependencies_need_and_what_the_readme_says() -> None:
    """requires-python promises no Python a dependency refuses (duckdb 2.x serves 3.11 and
    newer, so 3.10 failed at pip install), and the README promises the same."""
    import importlib.metadata
    import tomllib

    from packaging.requirements import Requirement
    from packaging.specifiers import SpecifierSet

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    floor = _python_floor(project["requires-python"])
    ours = ".".join(map(str, floor))
    requirements = [Requirement(r) for r in project["dependencies"]]
    assert "duckdb" in {r.name for r in requirements}
    for req in requirements:
        theirs = importlib.metadata.metadata(req.name).get("Requires-Python") or ""
        assert SpecifierSet(theirs).contains(ours), (
            f"{req.name} {importlib.metadata.version(req.name)} needs Python {theirs}, "
            f"requires-python admits {ours}"
        )
    assert f"Python {ours} or newer" in (ROOT / "README.md").read_text()


def test_real_data_tests_skip_with_a_reason_and_fail_where_required(tmp_path: Path) -> None:
    """Without the public datasets a test that reads them skips, saying where to get them;
    with TRAILSCOPE_REQUIRE_REAL_DATA set (as .ci/run sets it) it fails instead."""
    import os

    test = "tests/test_ingest.py::test_typed_columns_of_a_real_record"
    env = {**os.environ, "TRAILSCOPE_REAL_DATA": str(tmp_path / "absent")}
    env.pop("TRAILSCOPE_REQUIRE_REAL_DATA", None)
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", test]
    skipped = subprocess.run(args, check=False, capture_output=True, text=True, cwd=ROOT, env=env)
    assert skipped.returncode == 0, skipped.stdout
    assert "1 skipped" in skipped.stdout
    assert "tests/REAL_DATA.md" in skipped.stdout and str(tmp_path / "absent") in skipped.stdout
    env["TRAILSCOPE_REQUIRE_REAL_DATA"] = "1"
    failed = subprocess.run(args, check=False, capture_output=True, text=True, cwd=ROOT, env=env)
    assert failed.returncode == 1 and "1 failed" in failed.stdout, failed.stdout


def test_ci_runs_the_linters_and_requires_the_real_data() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("ruff check", "ruff format --check", "mypy", "TRAILSCOPE_REQUIRE_REAL_DATA=1"):
        assert command in ci, command

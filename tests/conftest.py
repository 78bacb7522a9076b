from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import polars as pl
    from pyspark.sql import SparkSession

    from trailscope.trail import Trail

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden"
FIXTURES = ROOT / "tests" / "fixtures"
SAMPLE_LOGS = ROOT / "sample_logs"
# The public CloudTrail datasets (tests/REAL_DATA.md says what they are and where to get them):
# kept outside the repository, whose licences allow their use, not their redistribution here.
REAL_DATA_ENV = "TRAILSCOPE_REAL_DATA"
REQUIRE_REAL_DATA_ENV = "TRAILSCOPE_REQUIRE_REAL_DATA"  # .ci/run sets it: never skip there
REAL = Path(os.environ.get(REAL_DATA_ENV) or ROOT.parent / "shared" / "data" / "real")


def real(dataset: str) -> Path:
    """The folder of one public dataset; the test skips where it is absent (a user's clone), and
    fails instead where TRAILSCOPE_REQUIRE_REAL_DATA is set (CI, which has them)."""
    path = REAL / dataset
    if path.is_dir():
        return path
    reason = (
        f"needs the public dataset {dataset} at {path}: tests/REAL_DATA.md says where to get "
        f"it; set {REAL_DATA_ENV} to the folder that holds the datasets"
    )
    if os.environ.get(REQUIRE_REAL_DATA_ENV):
        pytest.fail(f"{REQUIRE_REAL_DATA_ENV} is set, but the test {reason}", pytrace=False)
    pytest.skip(reason)


REQUIRE_SPARK_ENV = "TRAILSCOPE_REQUIRE_SPARK"  # .ci/run sets it: the Spark tests never skip there
# Spark in local mode, sized for the sample organization and the fixtures: two shuffle
# partitions instead of 200 (each is a task, and a task costs more than these rows do)
SPARK_TEST_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "2",
    "spark.driver.memory": "2g",
}


def _spark_missing() -> str | None:
    """Why the Spark tests cannot run here, or None."""
    if importlib.util.find_spec("pyspark") is None or importlib.util.find_spec("sqlglot") is None:
        return "needs the spark extra: pip install -e '.[test,spark]'"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "needs Java for Spark (Debian: apt-get install openjdk-17-jre-headless)"
    return None


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """Spark in local mode, once per test session: skipped with the reason where pyspark or
    Java is missing (a user's clone), failed instead where TRAILSCOPE_REQUIRE_SPARK is set."""
    reason = _spark_missing()
    if reason is not None:
        if os.environ.get(REQUIRE_SPARK_ENV):
            pytest.fail(f"{REQUIRE_SPARK_ENV} is set, but the test {reason}", pytrace=False)
        pytest.skip(reason)
    import logging

    from trailscope.spark import session

    spark = session("local[2]", **SPARK_TEST_CONF)
    spark.sparkContext.setLogLevel("ERROR")
    logging.getLogger("SQLQueryContextLogger").disabled = True  # pyspark logs every SQL error
    yield spark
    spark.stop()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/golden/ from current output (read the diff before committing)",
    )


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/<name>; --update-golden rewrites the file."""

    def check(name: str, actual: str) -> None:
        path = GOLDEN / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(actual, encoding="utf-8", newline="\n")
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        expected = path.read_text(encoding="utf-8")
        assert actual == expected, f"{path} differs; rerun with --update-golden and read the diff"

    return check


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database of the sample organization (sample_logs/), ingested once per test session.
    Open it with Trail(sample_db, read_only=True)."""
    from trailscope.trail import Trail

    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    with Trail(db) as trail:
        summary = trail.ingest(SAMPLE_LOGS)
    assert summary.ok, summary.lines()
    return db


@pytest.fixture(scope="session")
def sample_trail(sample_db: Path) -> Iterator[Trail]:
    """The sample organization, opened read-only as the analysis commands open it."""
    from trailscope.trail import Trail

    with Trail(sample_db, read_only=True) as trail:
        yield trail


def load_module(path: Path) -> ModuleType:
    """A fixture folder's make.py, loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(f"{path.parent.name}_make", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_result(trail: Trail | None, name: str, params: dict[str, Any]) -> pl.DataFrame:
    """A query module's rows (on an empty in-memory database when `trail` is None), after
    checking that its columns are the ones its outputs header promises."""
    from trailscope.analysis import load_queries
    from trailscope.trail import Trail

    if trail is None:
        with Trail() as empty:
            df = empty.query(name, **params)
    else:
        df = trail.query(name, **params)
    assert tuple(df.columns) == load_queries()[name].outputs, name
    return df

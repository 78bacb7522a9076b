"""Reports: golden HTML and Markdown of the sample organization, and hostile log content opened
in a real headless Chromium and a real GFM renderer."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt

from tests.conftest import ROOT, SAMPLE_LOGS
from tests.logs import sample_records, write_delivery
from trailscope import render, report
from trailscope.trail import Trail

FIXED = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)


def _context(db: Path, scope: report.Scope) -> dict[str, Any]:
    """The report's data with what changes from run to run (ingest times) pinned."""
    with Trail(db, read_only=True) as trail:
        context = report.build(trail.analysis, scope, generated_at=FIXED)
    for run in context["inputs"]["runs"]:
        run["started_at"] = run["finished_at"] = "2026-11-01T05:00:00Z"
        run["sources"] = {"sources": ["sample_logs"]}
    sources = context["inputs"]["sources"]
    for f in sources["listed"]:  # where this checkout is
        f["path"] = f["path"].replace(str(SAMPLE_LOGS), "sample_logs")
    sources["manifest_sha256"] = "(the SHA-256 of the list, pinned: it names where the files are)"
    return context


@pytest.mark.parametrize("fmt", ["html", "md"])
def test_sample_report_golden(sample_db: Path, golden: Any, fmt: str) -> None:
    context = _context(sample_db, report.Scope.month("2026-10"))
    golden(f"reports/sample_2026-10.{fmt}", render.render(context, fmt))


def test_json_report_is_the_same_content(sample_db: Path) -> None:
    context = _context(sample_db, report.Scope.month("2026-10"))
    assert json.loads(render.render(context, "json")) == json.loads(
        json.dumps(context, default=str)
    )


def test_user_templates_override_the_packaged_ones(sample_db: Path, tmp_path: Path) -> None:
    (tmp_path / "_inputs.html.jinja").write_text("<p id=mine>{{ inputs.events }} events</p>")
    context = _context(sample_db, report.Scope())
    html = render.render(context, "html", template_dirs=[tmp_path])
    assert f"<p id=mine>{context['inputs']['events']} events</p>" in html
    assert "<h2>Coverage" in html  # the other partials are still the packaged ones


HOSTILE = [
    "<script>document.title='PWNED'</script>",
    "<img src=x onerror=\"document.title='PWNED'\">",
    "javascript:document.title='PWNED'",
    "| broken | table |",
    "`code` **bold** [link](javascript:alert(1))",
    '=HYPERLINK("http://evil","x")',
]


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Organization events whose service principal, caller and user agent carry hostile text,
    and a rejected file whose name is HTML."""
    tmp = tmp_path_factory.mktemp("hostile")
    base = sample_records()[0]
    records = []
    for i, text in enumerate(HOSTILE):
        records.append(
            dict(
                base,
                eventID=f"55555555-0000-0000-0000-{i:012d}",
                eventTime=f"2026-10-0{i + 1}T10:00:00Z",
                eventSource="organizations.amazonaws.com",
                eventName="EnableAWSServiceAccess",
                userAgent=text,
                errorCode=None,
                requestParameters={"servicePrincipal": text},
                userIdentity=dict(
                    base["userIdentity"],
                    arn=f"arn:aws:iam::111111111111:user/{text}",
                    accountId="111111111111",
                ),
                recipientAccountId="111111111111",
            )
        )
    root = tmp / "logs"
    write_delivery(root, "111111111111", "us-east-1", "2026-10-01", "h", records)
    (root / "<img src=x onerror=alert(1)>.json").write_text("{not json")
    db = tmp / "hostile.duckdb"
    with Trail(db) as trail:
        trail.ingest(root)
    return db


def test_hostile_text_in_markdown_stays_text(hostile_db: Path) -> None:
    text = render.render(_context(hostile_db, report.Scope()), "md")
    html = MarkdownIt("gfm-like", {"html": True}).render(text)
    assert "<script" not in html and "<img" not in html and 'href="javascript' not in html
    for table in html.split("<table>")[1:]:  # every row of a table has its header's width
        head, body = table.split("</thead>")
        width = len(re.findall(r"<th[ >]", head))
        rows = body.split("</table>")[0].split("<tr>")[1:]
        assert rows and all(len(re.findall(r"<td[ >]", row)) == width for row in rows)
    assert "&lt;script&gt;document.title='PWNED'&lt;/script&gt;" in html


class _Tags(HTMLParser):
    """Every element name, attribute (name=value) and the text of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.names: set[str] = set()
        self.attributes: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)
        self.attributes += [f"{k}={v}" for k, v in attrs]

    def handle_data(self, data: str) -> None:
        self.text += data


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (.ci/run installs it; CI never skips)",
)
def test_hostile_html_runs_nothing_in_a_real_browser(hostile_db: Path, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    page.write_text(render.render(_context(hostile_db, report.Scope()), "html"))
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=2000",
    ]
    dom = subprocess.run(
        ["chromium", *flags, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "<title>Root activity report</title>" in dom and "PWNED</title>" not in dom
    tags = _Tags()
    tags.feed(dom)
    assert not {"script", "img", "iframe", "object", "embed", "a"} & tags.names
    assert not [a for a in tags.attributes if a.startswith("on") or "javascript:" in a]
    # the hostile text is shown as text, and the tables are still there
    for text in HOSTILE:
        assert text in tags.text
    assert tags.names >= {"table", "tr", "td"}
    shot = ROOT / "tests" / "output" / "hostile_report.png"
    shot.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["chromium", *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.stat().st_size > 10_000


def test_incident_report_narrows_to_a_principal_or_a_session(sample_db: Path) -> None:
    from trailscope.synthetic import PLANTED

    p15 = next(c for c in PLANTED if c.case_id == "P15")
    with Trail(sample_db, read_only=True) as trail:
        whole = json.loads(trail.report("json"))
        by_root = json.loads(trail.report("json", principal=f"{p15.account}:root"))
        call = next(s for s in whole["sessions"] if s["outcome"] == "issued" and s["events"])
        one = json.loads(trail.report("json", session=call["access_key_id"]))
    assert by_root["title"] == "Incident report"
    assert [f["account_id"] for f in by_root["findings"]] == [p15.account]
    assert {e["account_id"] for e in by_root["long_term_root"]} == {p15.account}
    assert [s["session_id"] for s in one["sessions"]] == [call["session_id"]]
    assert all(
        f["session_id"] in (call["session_id"], call["access_key_id"]) for f in one["findings"]
    )
    assert len(whole["findings"]) > len(by_root["findings"]) + len(one["findings"])

"""Reports: golden HTML and Markdown of the sample organization, and hostile log content opened
in a real headless Chromium and a real GFM renderer."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from markdown_it import MarkdownIt

from tests.conftest import ROOT, SAMPLE_LOGS
from tests.logs import sample_records, write_delivery
from trailscope import render, report
from trailscope.cli import cli
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


def _root_key_call(account: str, **fields: Any) -> dict[str, Any]:
    """A call made with a root access key of `account`, shaped like the sample's PutBucketAcl,
    with `fields` in place of the record's own."""
    identity = {
        "type": "Root",
        "principalId": account,
        "arn": f"arn:aws:iam::{account}:root",
        "accountId": account,
        "accessKeyId": f"AKIAHOSTILEEXAMPLE{account[:2]}",
    }
    record = dict(sample_records()[0], eventSource="s3.amazonaws.com", eventName="PutBucketAcl")
    return dict(record, userIdentity=identity, recipientAccountId=account, **fields)


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
        # the same text where the evidence section shows it: a root access key's call, its
        # bucket, user agent and error message (shaped like the sample's PutBucketAcl)
        records.append(
            _root_key_call(
                "111111111111",
                eventID=f"55555555-0000-0000-0001-{i:012d}",
                eventTime=f"2026-10-0{i + 1}T11:00:00Z",
                userAgent=text,
                errorCode="AccessDenied",
                errorMessage=text,
                requestParameters={"bucketName": text},
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
    assert "| '=HYPERLINK" in text  # defused for a spreadsheet, as in CSV
    assert not re.search(r"\| [=+@]", text)  # no cell starts as a formula
    assert "Evidence" in text and "bucketName=" in text  # the hostile calls are evidence


def test_hostile_text_in_the_evidence_csv_runs_no_formula(hostile_db: Path) -> None:
    r = CliRunner().invoke(
        cli, ["findings", "--db", str(hostile_db), "--evidence", "--format", "csv"]
    )
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert len([row for row in rows if row["event_name"] == "PutBucketAcl"]) == len(HOSTILE)
    cells = [cell for row in rows for cell in row.values() if cell]
    assert not [c for c in cells if c.startswith(("=", "+", "@", "-"))]
    assert '\'=HYPERLINK("http://evil","x")' in cells  # the user agent, defused
    assert any("<script>" in c for c in cells)  # text as it was, for a program to read


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
    assert not {"script", "img", "iframe", "object", "embed"} & tags.names
    assert not [a for a in tags.attributes if a.startswith("on") or "javascript:" in a]
    # the only links are the report's own, to its evidence (href="#evidence-<finding_id>")
    assert all(a.startswith("href=#evidence-") for a in tags.attributes if a.startswith("href"))
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


# evidence, coverage, what the report covers ----------------------------------------------------
def test_every_format_shows_the_evidence_behind_the_findings(sample_db: Path) -> None:
    context = _context(sample_db, report.Scope.month("2026-10"))
    by_title = {f["title"]: f for f in context["findings"]}
    acl = next(f for t, f in by_title.items() if "s3:PutBucketAcl" in t)
    queue = next(f for t, f in by_title.items() if "sqs:DeleteQueue" in t)
    critical = next(f for f in context["findings"] if f["severity"] == "critical")
    put = next(e for e in acl["evidence"] if e["event_name"] == "PutBucketAcl")
    assert put["parameters"] == "bucketName=acme-data-lake-raw" and put["role"] == "evidence"
    assert put["principal"] == "arn:aws:iam::400000000014:root" and put["source_ip"]
    assert put["user_agent"].startswith("aws-cli/")
    delete = next(e for e in queue["evidence"] if e["event_name"] == "DeleteQueue")
    assert delete["parameters"].endswith("/400000000011/payments-events")
    assert delete["error_code"] == "AccessDenied" and "not authorized" in delete["error_message"]
    created = next(e for e in critical["evidence"] if e["event_name"] == "CreateAccessKey")
    assert created["parameters"] == "created accessKeyId=AKIAWBC6VKQXERW754RB"
    for f in context["findings"]:  # every evidence and context event, in that order
        assert [e["event_id"] for e in f["evidence"]] == [
            *f["evidence_event_ids"],
            *f["context_event_ids"],
        ]
    html = render.render(context, "html")
    md = render.render(context, "md")
    as_json = json.loads(render.render(context, "json"))
    for text in (html, md):
        for value in ("acme-data-lake-raw", "AKIAWBC6VKQXERW754RB", delete["parameters"]):
            assert value in text.replace("\\_", "_")
        assert delete["error_message"].split(":")[0] in text
    assert as_json["findings"][0]["evidence"][0]["event_time"].endswith("Z")
    assert isinstance(as_json["findings"][0]["evidence_event_ids"], list)


def test_october_says_what_it_covers_and_what_the_logs_lack(sample_db: Path) -> None:
    context = _context(sample_db, report.Scope.month("2026-10"))
    covered = context["coverage"]
    assert not covered["complete"] and not context["empty"]
    assert [(r["from"], r["to"]) for r in covered["days_without_logs"]] == [
        ("2026-10-01", "2026-10-04"),
        ("2026-10-10", "2026-10-31"),
    ]
    assert [a["account_id"] for a in covered["accounts_without_logs"]] == [
        "400000000016",  # removed from the organization on 10-08, no logs of its own
        "400000000018",  # created on 10-06 and closed on 10-09
    ]
    pair = next(p for p in covered["pairs"] if p["account_id"] == "400000000012")
    assert pair["aws_region"] == "ap-southeast-2" and pair["missing_days"] == 28
    assert pair["missing_text"] == "2026-10-01 to 2026-10-05, 2026-10-09 to 2026-10-31"
    with Trail(sample_db, read_only=True) as trail:
        (hours,) = trail.sql(
            "select count(distinct date_trunc('hour', event_time)) as n from events"
            " where recipient_account_id = '400000000012' and aws_region = 'ap-southeast-2'"
        )["n"]
    assert pair["quiet_hours"] == 3 * 24 - hours  # the hours of its three days without events
    assert "26 of the period's 31 days" in context["warnings"][0]
    # at the top of every format
    html = render.render(context, "html")
    assert html.index('class="warning"') < html.index("What this report covers")
    md = render.render(context, "md")
    assert md.index("> - No logs at all on 26") < md.index("## What this report covers")
    assert json.loads(render.render(context, "json"))["warnings"] == context["warnings"]
    # what it rests on: the checks, the files with their SHA-256 as sha256sum gives it
    assert {c["name"] for c in context["checks"]} >= {"duration", "task_scope", "integrity"}
    files = context["inputs"]["sources"]
    assert files["files"] == len(files["listed"]) == 328 and files["events"] == 20128
    one = files["listed"][0]
    path = SAMPLE_LOGS / one["path"].removeprefix("sample_logs/")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == one["sha256"]


def test_a_month_without_logs_says_so(sample_db: Path) -> None:
    context = _context(sample_db, report.Scope.month("2026-11"))
    assert context["empty"] and context["coverage"]["events"] == 0
    assert context["headline"].startswith("Nothing to report on")
    assert report.verdict(context["findings"], complete=False, empty=True, fail_on=None) == "empty"
    for fmt in ("html", "md"):
        text = unescape(render.render(context, fmt))
        assert context["headline"] in text and "nothing in this scope was there to check" in text


def test_an_incident_report_lists_its_events_one_by_one(sample_db: Path, tmp_path: Path) -> None:
    with Trail(sample_db, read_only=True) as trail:
        context = trail.report_data(principal="alice@acme.example")
        calls = trail.sql(
            "select count(*) as n from events where event_name = 'AssumeRoot'"
            " and identity_arn ilike '%alice@acme.example%'"
        )["n"][0]
    events = context["incident"]["events"]
    assert [e["event_time"] for e in events] == sorted(e["event_time"] for e in events)
    assert sum(e["part"] == "AssumeRoot call" for e in events) == calls
    made = [e for e in events if e["part"] == "root session"]
    assert made and all(e["scope"] and e["seconds_after_issue"] is not None for e in made)
    acl = next(e for e in made if e["event_name"] == "PutBucketAcl")
    assert acl["scope"] == "out of scope" and acl["parameters"] == "bucketName=acme-data-lake-raw"
    html = render.render(context, "html")
    assert html.count('<tr><td class="nowrap">') >= len(events)
    assert "Events, one by one" in render.render(context, "md")


def test_a_filter_that_matches_nothing_says_so(sample_db: Path) -> None:
    with Trail(sample_db, read_only=True) as trail:
        context = trail.report_data(principal="nobody-at-all")
    assert context["empty"] and not context["coverage"]["empty"]
    assert context["warnings"][0].startswith("Nothing matches the principal 'nobody-at-all'")


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"),
    reason="needs Debian's chromium (.ci/run installs it; CI never skips)",
)
def test_the_incident_report_prints_to_pdf(sample_db: Path, tmp_path: Path) -> None:
    """Printed from a real browser: A4 landscape pages, every table with a header the print
    stylesheet repeats on each page."""
    with Trail(sample_db, read_only=True) as trail:
        html = trail.report("html", principal="alice@acme.example")
    page = tmp_path / "incident.html"
    page.write_text(html)
    assert "@media print" in html and "thead { display: table-header-group; }" in html
    assert html.count("<table") - html.count('<table class="facts">') == html.count("<thead>")
    pdf = tmp_path / "incident.pdf"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=True,
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    boxes = set(re.findall(rb"/MediaBox\s*\[([^\]]*)\]", data))
    assert boxes and all(float(b.split()[2]) > float(b.split()[3]) for b in boxes)  # landscape
    assert len(re.findall(rb"/Type\s*/Page\b", data)) > 3


@pytest.fixture(scope="module")
def gappy_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One account's logs with gaps whose days and hours are counted by hand: us-east-1 has
    events every hour of 10-01 but 05h and 06h, none on 10-02 (a day folder left empty) and only
    10h on 10-03; eu-west-1 only 12h on 10-01. Records shaped like the sample's (a read-only IAM
    call), one an hour."""
    tmp = tmp_path_factory.mktemp("gappy")
    base = sample_records()[0]
    account = "111111111111"
    hours = {
        ("us-east-1", "2026-10-01"): [h for h in range(24) if h not in (5, 6)],
        ("us-east-1", "2026-10-03"): [10],
        ("eu-west-1", "2026-10-01"): [12],
    }
    root = tmp / "logs"
    for (region, day), wanted in hours.items():
        records = [
            dict(
                base,
                eventID=f"66666666-0000-0000-{region[:2]}{day[-2:]}-{h:012d}",
                eventTime=f"{day}T{h:02d}:30:00Z",
                awsRegion=region,
                recipientAccountId=account,
            )
            for h in wanted
        ]
        write_delivery(root, account, region, day, "g", records)
    (root / "AWSLogs" / "o-a1b2c3d4e5" / account / "CloudTrail" / "us-east-1" / "2026/10/02").mkdir(
        parents=True
    )
    db = tmp / "gappy.duckdb"
    with Trail(db) as trail:
        trail.ingest(root)
    return db


def test_coverage_counts_the_days_and_hours_without_events(gappy_db: Path) -> None:
    with Trail(gappy_db, read_only=True) as trail:
        covered = trail.coverage(since="2026-10-01", until="2026-10-03")
    assert covered["days"] == 3 and covered["days_without_logs_text"] == "2026-10-02"
    pairs = {p["aws_region"]: p for p in covered["pairs"]}
    east, west = pairs["us-east-1"], pairs["eu-west-1"]
    assert (east["missing_text"], east["missing_days"]) == ("2026-10-02", 1)
    assert east["quiet_text"] == "2026-10-01 05-07h; 2026-10-03 00-10h, 11-24h"
    assert east["quiet_hours"] == 2 + 23
    assert (west["missing_text"], west["quiet_hours"]) == ("2026-10-02 to 2026-10-03", 23)
    assert not covered["complete"]


def test_a_region_silent_for_the_whole_period_is_a_gap(gappy_db: Path) -> None:
    """eu-west-1 delivered on 10-01 and nothing after: a report of 10-03, when us-east-1 has
    events, must not call its coverage complete because the region left no event to count."""
    with Trail(gappy_db, read_only=True) as trail:
        covered = trail.coverage(since="2026-10-03", until="2026-10-03")
    west = next(p for p in covered["pairs"] if p["aws_region"] == "eu-west-1")
    assert (west["events"], west["missing_text"], west["quiet_hours"]) == (0, "2026-10-03", 0)
    assert not covered["complete"]
    assert "1 of the 2 account/region pairs" in " ".join(covered["warnings"])


def test_a_period_ending_at_midnight_does_not_lack_the_next_day(gappy_db: Path) -> None:
    """--until 2026-10-02T00:00:00Z ends as 10-01 does: 10-02 is not a day of it to lack."""
    with Trail(gappy_db, read_only=True) as trail:
        covered = trail.coverage(
            since="2026-10-01T00:00:00Z", until="2026-10-02T00:00:00Z", accounts=["111111111111"]
        )
    assert covered["days"] == 1 and covered["days_without_logs"] == []
    east = next(p for p in covered["pairs"] if p["aws_region"] == "us-east-1")
    assert east["quiet_text"] == "2026-10-01 05-07h"


def test_a_text_of_any_length_is_shown_cut(tmp_path: Path) -> None:
    """A forged file's 200,000-character user agent and error message: the report shows the
    first TEXT_LIMIT characters and says how many more there are (a browser took minutes to lay
    the whole out, and did not print it); the database and `findings --evidence` keep all."""
    long = "A" * 200_000
    record = _root_key_call(
        "111111111111",
        eventID="99999999-0000-0000-0000-000000000001",
        eventTime="2026-10-01T11:00:00Z",
        userAgent=long,
        errorCode="AccessDenied",
        errorMessage=long,
        requestParameters={"bucketName": "b"},
    )
    write_delivery(tmp_path / "logs", "111111111111", "us-east-1", "2026-10-01", "l", [record])
    db = tmp_path / "long.duckdb"
    with Trail(db) as trail:
        trail.ingest(tmp_path / "logs")
    with Trail(db, read_only=True) as trail:
        context = trail.report_data()
        exact = trail.evidence(trail.findings())
    (shown,) = [e for f in context["findings"] for e in f["evidence"]]
    cut = f"{'A' * report.TEXT_LIMIT}… [{200_000 - report.TEXT_LIMIT:,} more characters not shown]"
    assert shown["user_agent"] == shown["error_message"] == cut
    assert len(render.render(context, "html")) < 100_000
    assert exact["user_agent"].to_list() == [long]


def test_long_term_root_use_is_listed_up_to_a_limit_and_counted_whole(tmp_path: Path) -> None:
    """A root access key's 1,200 GetObject calls (shaped like the sample's root-key calls):
    the report lists the first LONG_TERM_LIMIT and counts all; 10,000 such rows made the HTML
    crash Chromium printing it to PDF."""
    records = [
        _root_key_call(
            "222222222222",
            eventID=f"88888888-0000-0000-0000-{j:012d}",
            eventTime=f"2026-10-05T{j // 3600:02d}:{j // 60 % 60:02d}:{j % 60:02d}Z",
            eventName="GetObject",
            errorCode=None,
            requestParameters={"bucketName": "b", "key": f"k{j}"},
        )
        for j in range(report.LONG_TERM_LIMIT + 200)
    ]
    write_delivery(tmp_path / "logs", "222222222222", "us-east-1", "2026-10-05", "k", records)
    db = tmp_path / "keys.duckdb"
    with Trail(db) as trail:
        trail.ingest(tmp_path / "logs")
    with Trail(db, read_only=True) as trail:
        context = trail.report_data()
    assert len(context["long_term_root"]) == report.LONG_TERM_LIMIT
    assert context["long_term_root_count"] == len(records)
    for fmt in ("html", "md"):
        text = render.render(context, fmt)
        assert f"{len(records)} events of root use" in text
        assert f"The first {report.LONG_TERM_LIMIT} shown" in text

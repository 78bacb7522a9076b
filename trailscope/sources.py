"""Finding log files: walk what the user pointed at, prune by CloudTrail's S3 key layout
(account, region, day) before any file is opened, and recognise what is not an event log."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from trailscope.errors import BadSource
from trailscope.period import parse_time

_ACCOUNT = re.compile(r"^\d{12}$")
_ORG = re.compile(r"^o-[a-z0-9]{10,32}$")
_YEAR, _TWO = re.compile(r"^\d{4}$"), re.compile(r"^\d{2}$")
# AWS's own folders beside CloudTrail/ that hold no management or data events
NOT_EVENT_FOLDERS = {
    "CloudTrail-Digest": "CloudTrail digest file (integrity hashes, not events)",
    "CloudTrail-Insight": "CloudTrail Insights event (anomaly summary, not an API call)",
}


@dataclass(frozen=True)
class Filters:
    """What to read, decided from the key layout alone. Files outside the layout are always read."""

    accounts: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    @classmethod
    def make(
        cls,
        *,
        account: Sequence[str] = (),
        region: Sequence[str] = (),
        since: str | dt.datetime | None = None,
        until: str | dt.datetime | None = None,
    ) -> Filters:
        for a in account:
            if not _ACCOUNT.match(a):
                raise BadSource(f"--account takes a 12-digit account ID, not {a!r}")
        return cls(
            frozenset(account),
            frozenset(region),
            parse_time(since, end=False),
            parse_time(until, end=True),
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "account": sorted(self.accounts),
            "region": sorted(self.regions),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    def keeps(self, layout: dict[str, str]) -> bool:
        """False when a folder or file's place in the key layout rules it out."""
        if self.accounts and "account" in layout and layout["account"] not in self.accounts:
            return False
        if self.regions and "region" in layout and layout["region"] not in self.regions:
            return False
        if "year" not in layout or (self.since is None and self.until is None):
            return True
        first, last = _folder_days(layout)
        # A file lands in the folder of its delivery, up to ~15 minutes after its last event:
        # a day's folder may hold the end of the day before, so its events start a day earlier.
        if self.until is not None and first - dt.timedelta(days=1) > self.until.date():
            return False
        return not (self.since is not None and last < self.since.date())


def _folder_days(layout: dict[str, str]) -> tuple[dt.date, dt.date]:
    """The first and last day a YYYY[/MM[/DD]] folder covers."""
    year = int(layout["year"])
    if "month" not in layout:
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    month = int(layout["month"])
    if "day" in layout:
        day = dt.date(year, month, int(layout["day"]))
        return day, day
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, 1), following - dt.timedelta(days=1)


def layout_of(parts: Sequence[str]) -> dict[str, str]:
    """What the CloudTrail key layout says about a path: AWSLogs/[o-org/]acct/CloudTrail/region/Y/M/D.

    Only the levels present are returned, so a folder half-way down the tree is understood too.
    """
    try:
        i = len(parts) - 1 - list(reversed(parts)).index("AWSLogs")
    except ValueError:
        return {}
    rest = list(parts[i + 1 :])
    out: dict[str, str] = {}
    if rest and _ORG.match(rest[0]):
        out["org"] = rest.pop(0)
    if not rest or not _ACCOUNT.match(rest[0]):
        return out
    out["account"] = rest.pop(0)
    if not rest:
        return out
    out["service"] = rest.pop(0)
    for key, pattern in (("region", None), ("year", _YEAR), ("month", _TWO), ("day", _TWO)):
        if not rest:
            break
        if pattern is not None and not pattern.match(rest[0]):
            break
        out[key] = rest.pop(0)
    return out


@dataclass(frozen=True)
class Candidate:
    """A file to consider: read it, or record why not."""

    path: str
    size: int
    mtime: float
    etag: str | None = None
    skip: str | None = None  # reason it is not read at all


def discover(sources: Sequence[str], filters: Filters) -> Iterator[Candidate]:
    """Every file under the sources, in sorted order, with folders pruned by the filters."""
    for source in sources:
        path = Path(source).expanduser()
        if not path.exists():
            raise BadSource(f"no such file or folder: {source}")
        path = path.resolve()
        if path.is_file():
            yield _candidate(path, explicit=True)
            continue
        yield from _walk(path, filters)


def _candidate(path: Path, *, explicit: bool = False) -> Candidate:
    st = path.stat()
    parts = path.parts
    for folder, why in NOT_EVENT_FOLDERS.items():
        if folder in parts:
            return Candidate(str(path), st.st_size, st.st_mtime, skip=why)
    if not explicit and path.name.startswith("."):
        return Candidate(str(path), st.st_size, st.st_mtime, skip="hidden file")
    return Candidate(str(path), st.st_size, st.st_mtime)


def _walk(root: Path, filters: Filters) -> Iterator[Candidate]:
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        # prune sub-folders the key layout rules out, before listing them
        dirnames[:] = sorted(d for d in dirnames if filters.keeps(layout_of((here / d).parts)))
        for name in sorted(filenames):
            path = here / name
            if not path.is_file():
                continue
            if not filters.keeps(layout_of(path.parent.parts)):  # the folder given, if pruned
                continue
            yield _candidate(path)

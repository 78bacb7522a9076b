"""A corpus of hostile input (issue 14): every way a file was found to stop, fool or silently
lose an ingest, beside good files, with what ingest must make of each one.

Built into a folder, never committed (a gzip bomb is 4 MB and nothing else here is large):

    python -m tests.hostile OUT        # OUT/corpus, and OUT/late for a second run

The records are the sample organization's (tests.logs.sample_records), given IDs of their own
and altered where a case needs it. What each file must give is in `Corpus.expected`, by path
relative to the corpus folder as the `files` table shows it.

Cases (file, or folder, in the corpus):
  good/...                   a delivery tree, read as usual
  deep.json                  a JSON document nested 10,000 levels deep (not compact)
  deep_record.json           a compact delivery file whose one record nests 10,000 levels
  bomb.json.gz               4 MB of gzip inflating to 4 GiB
  name-\\xff.json.gz          a file name that is not UTF-8
  ESC-name.json              a file name holding an OSC escape sequence (and a bad record)
  bom/*                      UTF-8 byte-order mark (plain, gzip, JSON lines), UTF-16 LE and BE
  invalid_utf8_record.json   a delivery file with one record of invalid UTF-8
  control_char_record.json   a delivery file with one record holding a raw control character
  cut_short.json             a delivery file cut short in its last record (a partial copy)
  first_lines_bad.jsonl      JSON lines whose first 5 lines are bad, then 5 good
  null_record.json           a delivery file whose Records hold a null and a number
  joined/*                   delivery files joined: by cat (no separator), by zcat into JSON
                             lines of them, by jq -s into an array of them (and of one
                             empty one)
  number.json                a JSON number, not CloudTrail (it was skipped as "not JSON")
  packed/*                   bzip2, xz and zip (not read: rejected, never passed over), gzip
                             inside gzip, gzipped Parquet, Parquet with decimal and binary
                             columns (which JSON has no type for)
  times.json                 eventTime infinity, -infinity, year 0, 1, 9999, 12026, 290000,
                             before CloudTrail began, two days from now; and one good
  ids.json                   eventID empty, blank, missing; and one good
  dups_a.json, dups_b.json   copies of one event: the same, with another eventTime, another
                             recipientAccountId, one where the stored copy has none, the same
                             written differently (key order, spacing)
  terminal.json              ANSI and OSC escape sequences, C1 CSI, a bidi override in fields
  links/day -> outside       a symlinked day folder, read through the link
  links/loop -> ..           a link back up the tree, read once
  links/dangling.json        a symbolic link that leads nowhere
  pipe.json                  a named pipe (it would block a reader)
  locked/                    a folder that cannot be listed (mode 000; see `unreadable`)
  late/ (second run)         copies of first-run events, one with another eventTime
"""

from __future__ import annotations

import bz2
import datetime as dt
import decimal
import gzip
import io
import json
import lzma
import os
import shutil
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from tests.logs import delivery_bytes, sample_records, write_delivery

GiB = 2**30
ACCOUNT = "400000000002"
OTHER_ACCOUNT = "400000000099"
# the text attacks on a terminal: colour, a window title (OSC), a one-character CSI (C1), a
# cursor move and erase, a right-to-left override
TERMINAL = (
    "\x1b[31mred\x1b[0m",
    "\x1b]0;pwned\x07title",
    "\x9b2Jc1-clear",
    "\x1b[2A\x1b[Kover\rwrite",
    "\u202egnp.exe",
)


@dataclass(frozen=True)
class Expect:
    """What one file must give: its records read, stored, duplicates, rejected, its status,
    and reason fragments (position None for the file as a whole)."""

    records: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    status: str = "ingested"
    reasons: tuple[tuple[int | None, str], ...] = ()


@dataclass
class Corpus:
    root: Path
    expected: dict[str, Expect] = field(default_factory=dict)
    stored_ids: set[str] = field(default_factory=set)
    conflicts: dict[str, set[str]] = field(default_factory=dict)  # event_id -> fields
    unreadable: Path | None = None  # the folder made unlistable
    locked_ids: set[str] = field(default_factory=set)  # the events in it

    @property
    def total(self) -> Expect:
        e = self.expected.values()
        return Expect(
            sum(x.records for x in e),
            sum(x.stored for x in e),
            sum(x.duplicates for x in e),
            sum(x.rejected for x in e),
        )


class _Ids:
    """Fresh eventIDs in the shape of CloudTrail's, and the records to carry them."""

    def __init__(self, prefix: str) -> None:
        self.prefix, self.n = prefix, 0
        self.base = [r for r in sample_records() if "recipientAccountId" in r]

    def record(self, **changes: Any) -> dict[str, Any]:
        self.n += 1
        record = dict(self.base[self.n % len(self.base)])
        record["eventID"] = f"{self.prefix}-0000-4000-8000-{self.n:012d}"
        record.update(changes)
        return record


def _json(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def gzip_bomb(size: int) -> bytes:
    """A gzip file inflating to `size` zero bytes (a multiple of 64 MiB), about size/1000
    bytes long: one deflate block of 64 MiB of zeros, ended by a full flush so that it stands
    alone, repeated, then a final block and the gzip trailer (CRC-32 and length)."""
    chunk = 64 * 2**20
    zeros = bytes(chunk)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    end = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    crc = 0
    for _ in range(size // chunk):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = crc.to_bytes(4, "little") + (size % 2**32).to_bytes(4, "little")
    return header + block * (size // chunk) + end + trailer


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("records.json", data)
    return out.getvalue()


def _parquet(records: list[dict[str, Any]], *, typed: bool = False) -> bytes:
    """A Parquet export of the records' top-level text fields, in Athena's lower case; `typed`
    adds a decimal and a binary column, as a conversion of one's own may."""
    names = [k for k, v in records[0].items() if isinstance(v, str)]
    columns: dict[str, Any] = {k.lower(): [r.get(k) for r in records] for k in names}
    if typed:
        columns["cost"] = pa.array([decimal.Decimal("1.25")] * len(records), pa.decimal128(5, 2))
        columns["blob"] = pa.array([b"\x00\xff"] * len(records), pa.binary())
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out)
    return out.getvalue()


def build(folder: Path, *, bomb: int = 4 * GiB) -> Corpus:
    """Write the first run's corpus into folder/corpus."""
    root = folder / "corpus"
    if root.exists():
        shutil.rmtree(root, onerror=lambda f, p, e: (os.chmod(p, 0o755), f(p)))
    root.mkdir(parents=True)
    c = Corpus(root)
    ids = _Ids("11111111")

    def good(n: int, **changes: Any) -> list[dict[str, Any]]:
        records = [ids.record(**changes) for _ in range(n)]
        c.stored_ids.update(r["eventID"] for r in records)
        return records

    # good files in the delivery layout
    for day, name in (("2026-10-05", "a"), ("2026-10-06", "b")):
        path = write_delivery(root / "good", ACCOUNT, "us-east-1", day, name, good(5), org=False)
        c.expected[str(path.relative_to(root))] = Expect(5, 5)

    # 1. one file must not stop the run
    _json(root / "deep.json", "[" * 10_000 + "]" * 10_000)
    c.expected["deep.json"] = Expect(status="rejected", reasons=((None, "nested too deeply"),))
    deep = good(1)[0] | {"requestParameters": {}}
    text = delivery_bytes([deep, *good(1)]).replace(
        b'"requestParameters":{}',
        b'"requestParameters":' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000,
        1,
    )
    _json(root / "deep_record.json", text)
    c.expected["deep_record.json"] = Expect(2, 2)
    _json(root / "bomb.json.gz", gzip_bomb(bomb))
    c.expected["bomb.json.gz"] = Expect(
        status="rejected", reasons=((None, "larger than 1 GiB once inflated"),)
    )
    odd_name = os.fsdecode(b"name-\xff.json.gz")
    _json(root / odd_name, gzip.compress(delivery_bytes(good(3))))
    c.expected["name-\\xff.json.gz"] = Expect(3, 3)
    no_time = ids.record()
    del no_time["eventTime"]
    _json(root / "\x1b]0;pwned\x07ESC-name.json", delivery_bytes([*good(2), no_time]))
    c.expected["\x1b]0;pwned\x07ESC-name.json"] = Expect(
        3, 2, 0, 1, reasons=((3, "record has no eventTime"),)
    )

    # 3. byte-order marks
    _json(root / "bom" / "utf8.json", b"\xef\xbb\xbf" + delivery_bytes(good(3)))
    _json(root / "bom" / "utf8.json.gz", gzip.compress(b"\xef\xbb\xbf" + delivery_bytes(good(3))))
    lines = b"\n".join(json.dumps(r).encode() for r in good(3))
    _json(root / "bom" / "utf8.jsonl", b"\xef\xbb\xbf" + lines)
    _json(root / "bom" / "utf16le.json", json.dumps({"Records": good(3)}).encode("utf-16"))
    _json(
        root / "bom" / "utf16be.json",
        b"\xfe\xff" + delivery_bytes(good(3)).decode().encode("utf-16-be"),
    )
    for name in ("utf8.json", "utf8.json.gz", "utf8.jsonl", "utf16le.json", "utf16be.json"):
        c.expected[f"bom/{name}"] = Expect(3, 3)

    # 4. one bad record must not cost its neighbours
    records = [*good(1), ids.record(userAgent="BAD"), *good(1)]
    _json(root / "invalid_utf8_record.json", delivery_bytes(records).replace(b'"BAD"', b'"b\xffd"'))
    c.expected["invalid_utf8_record.json"] = Expect(3, 2, 0, 1, reasons=((2, "not valid UTF-8"),))
    records = [*good(1), ids.record(userAgent="BAD"), *good(1)]
    text = delivery_bytes(records).replace(b'"BAD"', b'"b\x01d"')  # raw U+0001
    _json(root / "control_char_record.json", text)
    c.expected["control_char_record.json"] = Expect(
        3, 2, 0, 1, reasons=((2, "invalid JSON: Invalid control character"),)
    )
    text = delivery_bytes([*good(2), ids.record()])
    _json(root / "cut_short.json", text[: len(text) - 100])
    c.expected["cut_short.json"] = Expect(3, 2, 0, 1, reasons=((3, "invalid JSON"),))
    _json(root / "null_record.json", json.dumps({"Records": [None, *good(1), 7]}))
    c.expected["null_record.json"] = Expect(
        3, 1, 0, 2, reasons=((1, "not a JSON object: null"), (3, "not a JSON object: a number"))
    )
    _json(root / "number.json", "42\n")
    c.expected["number.json"] = Expect(
        status="rejected", reasons=((None, "JSON, but not CloudTrail: a number"),)
    )
    bad = [b'{"eventID": "x", trunc', b"not json", b"[1, 2]", b"\xff\xfe", b'"text"']
    lines = bad + [json.dumps(r).encode() for r in good(5)]
    _json(root / "first_lines_bad.jsonl", b"\n".join(lines))
    c.expected["first_lines_bad.jsonl"] = Expect(
        10, 5, 0, 5, reasons=((1, "invalid JSON"), (3, "not a JSON object"), (4, "UTF-8"))
    )

    # 4. delivery files joined into one: each one's records read, as if it stood alone
    _json(root / "joined" / "cat.json", delivery_bytes(good(2)) + delivery_bytes(good(3)))
    c.expected["joined/cat.json"] = Expect(5, 5)
    lines = gzip.compress(delivery_bytes(good(2)) + b"\n") + gzip.compress(delivery_bytes(good(1)))
    _json(root / "joined" / "zcat.jsonl.gz", lines)
    c.expected["joined/zcat.jsonl.gz"] = Expect(3, 3)
    slurped = [{"Records": good(2)}, {"Records": []}, {"Records": good(1)}]
    _json(root / "joined" / "slurped.json", json.dumps(slurped))
    c.expected["joined/slurped.json"] = Expect(3, 3)
    _json(root / "joined" / "slurped_empty.json", json.dumps([{"Records": []}]))
    c.expected["joined/slurped_empty.json"] = Expect(status="empty")

    # 3. what is packed in a way that is not read is rejected; what is read, is
    for name, pack in (("bzip2", bz2.compress), ("xz", lzma.compress), ("zip", _zip)):
        _json(root / "packed" / f"{name}.json.{name}", pack(delivery_bytes([ids.record()])))
        c.expected[f"packed/{name}.json.{name}"] = Expect(
            status="rejected", reasons=((None, f"compressed with {name}, which trailscope"),)
        )
    twice = gzip.compress(gzip.compress(delivery_bytes(good(2))))
    _json(root / "packed" / "gzip_in_gzip.json.gz", twice)
    c.expected["packed/gzip_in_gzip.json.gz"] = Expect(2, 2)
    _json(root / "packed" / "parquet.gz", gzip.compress(_parquet(good(2))))
    c.expected["packed/parquet.gz"] = Expect(2, 2)
    _json(root / "packed" / "typed.parquet", _parquet(good(2), typed=True))
    c.expected["packed/typed.parquet"] = Expect(2, 2)

    # 5. impossible times
    now = dt.datetime.now(dt.UTC)
    impossible = [
        "infinity",
        "-infinity",
        "0000-06-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "12026-01-01T00:00:00Z",
        "290000-01-01T00:00:00Z",
        "2013-11-12T23:59:59Z",
        (now + dt.timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
    ]
    records = [ids.record(eventTime=t) for t in impossible] + good(1)
    _json(root / "times.json", delivery_bytes(records))
    c.expected["times.json"] = Expect(
        10,
        1,
        0,
        9,
        reasons=(
            (1, "more than a day after this ingest ran"),
            (2, "before CloudTrail existed"),
            (3, "before CloudTrail existed"),
            (5, "more than a day after"),
            (7, "more than a day after"),
            (8, "before CloudTrail existed (it began on 2013-11-13)"),
            (9, "more than a day after"),
        ),
    )
    no_id = ids.record()
    del no_id["eventID"]
    records = [ids.record(eventID=""), ids.record(eventID="   "), no_id, *good(1)]
    _json(root / "ids.json", delivery_bytes(records))
    c.expected["ids.json"] = Expect(
        4, 1, 0, 3, reasons=((1, "no eventID: it is empty"), (2, "no eventID"), (3, "no eventID"))
    )

    # 2. duplicates, whatever their other fields say
    same, later, moved, unsent, reformatted = good(5)
    del unsent["recipientAccountId"]
    _json(root / "dups_a.json", delivery_bytes([same, later, moved, unsent, reformatted]))
    c.expected["dups_a.json"] = Expect(5, 5)
    copies = [
        same,
        later | {"eventTime": "2026-10-09T00:00:00Z"},
        moved | {"recipientAccountId": OTHER_ACCOUNT},
        unsent | {"recipientAccountId": ACCOUNT},
    ]
    shuffled = json.dumps({k: reformatted[k] for k in sorted(reformatted)}, indent=2)
    _json(
        root / "dups_b.json",
        '{"Records": [' + ",".join(json.dumps(r) for r in copies) + "," + shuffled + "]}",
    )
    c.expected["dups_b.json"] = Expect(5, 0, 5)
    c.conflicts = {
        later["eventID"]: {"eventTime"},
        moved["eventID"]: {"recipientAccountId"},
        unsent["eventID"]: {"recipientAccountId"},
    }

    # 7. terminal injection: stored exactly, shown harmless
    records = good(len(TERMINAL), eventName="ConsoleLogin")
    for record, attack in zip(records, TERMINAL, strict=True):
        record["userAgent"] = attack
        record["sourceIPAddress"] = attack
    _json(root / "terminal.json", delivery_bytes(records))
    c.expected["terminal.json"] = Expect(len(TERMINAL), len(TERMINAL))

    # 3. links, and what cannot be read
    outside = folder / "outside" / "day06"
    shutil.rmtree(outside.parent, ignore_errors=True)
    _json(outside / "linked.json", delivery_bytes(good(3)))
    (root / "links").mkdir()
    (root / "links" / "day").symlink_to(outside, target_is_directory=True)
    c.expected["links/day/linked.json"] = Expect(3, 3)
    (root / "links" / "loop").symlink_to("..", target_is_directory=True)
    c.expected["links/loop"] = Expect(status="skipped")
    (root / "links" / "dangling.json").symlink_to(root / "nowhere.json")
    c.expected["links/dangling.json"] = Expect(
        status="rejected", reasons=((None, "a symbolic link that leads nowhere"),)
    )
    os.mkfifo(root / "pipe.json")
    c.expected["pipe.json"] = Expect(status="skipped")
    locked = root / "locked"
    inside = [ids.record() for _ in range(2)]
    c.locked_ids = {r["eventID"] for r in inside}
    _json(locked / "inside.json", delivery_bytes(inside))
    locked.chmod(0)
    c.unreadable = locked
    c.expected["locked"] = Expect(
        status="rejected", reasons=((None, "cannot list this folder: Permission denied"),)
    )
    return c


def readable_again(c: Corpus) -> None:
    """Make the locked folder listable: a re-run reads what is in it."""
    assert c.unreadable is not None
    c.unreadable.chmod(0o755)
    c.expected["locked/inside.json"] = Expect(2, 2)
    c.stored_ids |= c.locked_ids


def build_late(folder: Path, first: Corpus) -> Corpus:
    """The second run's corpus, in folder/late: copies of first-run events (one the same, one
    with another eventTime) and new ones."""
    root = folder / "late"
    shutil.rmtree(root, ignore_errors=True)
    c = Corpus(root)
    ids = _Ids("22222222")
    new = [ids.record() for _ in range(3)]
    c.stored_ids = {r["eventID"] for r in new}
    stored = {
        r["eventID"]: r for r in json.loads((first.root / "dups_a.json").read_bytes())["Records"]
    }
    same, later = list(stored.values())[:2]
    replayed = same | {"eventTime": "2026-10-10T10:10:10Z", "sourceIPAddress": "203.0.113.7"}
    _json(root / "late.json", delivery_bytes([*new, later, replayed]))
    c.expected["late.json"] = Expect(5, 3, 2)
    c.conflicts = {same["eventID"]: {"eventTime", "sourceIPAddress"}}
    return c


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "hostile")
    corpus = build(out)
    build_late(out, corpus)
    print(f"{out}/corpus: {len(corpus.expected)} cases, {corpus.total}")

"""Reading one log file into records: detect its format from its bytes, not its name, and turn it
into records for DuckDB (JSON lines, or where each record lies in an S3 delivery file), or say
exactly why it cannot be read.

Formats: gzip or plain `{"Records": [...]}` (S3 delivery), a JSON array of records, one record
object, JSON lines, LookupEvents output (`CloudTrailEvent` holds the record as a string; the
inner record is stored), and Parquet with CloudTrail's field names (Athena/Glue conversions).
Text may start with a byte-order mark: UTF-8's is dropped, UTF-16 and UTF-32 are converted.

No file can stop a run: one that inflates beyond `max_size` (a gzip bomb) is rejected while
inflating, one nested too deeply for the parsers is rejected with that reason, and a record
that is not valid UTF-8 is rejected on its own, its neighbours kept.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from isal import isal_zlib

from trailscope import schema

GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
# AWS writes delivery files compactly with eventVersion first in every record, so the boundary
# between two records is this exact byte string. Inside a JSON string a quote is always escaped,
# so it can only occur as structure; a split inside a record leaves a piece that is not a whole
# JSON object, which the parse in DuckDB finds, and the file is then parsed in full instead.
_RECORDS_HEAD = re.compile(rb'^\s*\{"Records":\[\s*')
_FIRST = re.compile(rb"\s*(\S)")
# Byte-order marks, longest first (UTF-32 LE starts like UTF-16 LE). Unicode's FAQ on BOMs.
BOMS = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
MAX_FILE_SIZE = schema.MAX_FILE_SIZE
_BOUNDARY = b'},{"eventVersion":'
# A record has at least one of these; a JSON object with none of them is not CloudTrail.
MARKERS = ("eventVersion", "eventID", "eventTime", "eventName", "eventSource", "CloudTrailEvent")
PARQUET_ROWS = 50_000
# Compressions trailscope does not inflate, by their magic numbers (each format's own
# specification, as file(1) knows them): such a file holds records that cannot be read, a
# rejection, not a file to pass over as "not JSON". gzip inside gzip is inflated, once.
OTHER_COMPRESSIONS = (
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
    (b"\x04\x22\x4d\x18", "LZ4"),
)
GZIP_LAYERS = 2


@dataclass
class Chunk:
    """Records of one file: the lines of `text`, or, from the byte-level split of a delivery
    file, the slices `text[start:end]` in `spans`; a record's position is `offset` + its
    1-based place among them."""

    text: bytes
    offset: int = 0
    spans: tuple[list[int], list[int]] | None = None  # (starts, ends)


@dataclass
class ReadResult:
    """What came of reading one file."""

    format: str
    chunks: list[Chunk] = field(default_factory=list)
    fast: bool = False  # chunks come from the byte-level split: DuckDB checks every piece
    error: str | None = None  # the whole file was rejected, and why
    skip: str | None = None  # not a log file at all
    rejected: list[tuple[int, str, str | None]] = field(default_factory=list)  # position, why, raw
    note: str | None = None


def size_text(size: int) -> str:
    """Bytes in the units a person reads: 1 GiB, 64 MiB, 512 KiB, 100 bytes."""
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if size >= factor:
            return f"{size / factor:,.4g} {unit}"
    return f"{size:,} bytes"


def too_large(max_size: int) -> str:
    """The reason a file over the cap is rejected."""
    return (
        f"larger than {size_text(max_size)} once inflated, the cap on one file's size "
        f"(--max-file-size): not read (a CloudTrail file is tens of MB; this may be a "
        f"decompression bomb)"
    )


def read_bytes(data: bytes, *, slow: bool = False, max_size: int = MAX_FILE_SIZE) -> ReadResult:
    """Detect the format of a file's bytes and split it into JSON lines; `slow` skips the
    byte-level split of delivery files and parses the whole document. A file that is, or
    inflates to, more than `max_size` bytes is rejected, gzip while it inflates."""
    for layer in range(GZIP_LAYERS + 1):
        if data[:2] != GZIP_MAGIC:
            break
        if layer == GZIP_LAYERS:
            return ReadResult("gzip", error=f"gzip inside gzip more than {layer} times: not read")
        try:
            data = _gunzip(data, max_size)
        except _TooLarge:
            return ReadResult("gzip", error=too_large(max_size))
        except (zlib.error, EOFError, OSError) as e:
            return ReadResult("gzip", error=f"truncated or corrupt gzip: {e}")
    if len(data) > max_size:
        return ReadResult("unknown", error=too_large(max_size))
    if data[:4] == PARQUET_MAGIC:
        return _read_parquet_file(data)
    for magic, name in OTHER_COMPRESSIONS:
        if data.startswith(magic):
            return ReadResult(
                name,
                error=f"compressed with {name}, which trailscope does not read: decompress it "
                "(or gzip it) and ingest it again",
            )
    data, note, error = _utf8(data)
    if error is not None:
        return ReadResult("unknown", error=error)
    result = _read_text(data, slow)
    if note is not None:
        result.note = f"{note}; {result.note}" if result.note else note
    return result


def _utf8(data: bytes) -> tuple[bytes, str | None, str | None]:
    """The text as UTF-8 without a byte-order mark, what was done to it, and why it cannot
    be read if it cannot."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            name = encoding.upper()
            if encoding == "utf-8":
                return data[len(bom) :], "starts with a UTF-8 byte-order mark, ignored", None
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as e:
                return data, None, f"not valid {name} ({e.reason} at byte {e.start + len(bom)})"
            return text.encode("utf-8"), f"{name} text (by its byte-order mark), read", None
    return data, None, None


def _read_text(data: bytes, slow: bool) -> ReadResult:
    first = _FIRST.match(data)
    if first is None:
        return ReadResult("empty", note="empty file")
    if first.group(1) not in (b"{", b"["):
        try:
            value = _loads(data)
        except ValueError:
            return ReadResult("unknown", skip="not JSON, gzip or Parquet")
        return ReadResult("json", error=f"JSON, but not CloudTrail: {_kind(value)}")
    head = _RECORDS_HEAD.match(data)
    whole = data[-64:].rstrip().endswith(b"]}")
    if not slow and head and whole:
        start, end = head.end(), data.rindex(b"]")
        while end > start and data[end - 1] in b" \t\r\n":
            end -= 1
        if start == end:
            return ReadResult("records")
        return ReadResult(
            "records", [Chunk(data, spans=_record_spans(data, start, end))], fast=True
        )
    result = read_slow(data)
    if head and result.error is not None and result.error.startswith("invalid JSON"):
        end = data.rindex(b"]") if whole else len(data.rstrip())
        if end > head.end():
            return _read_pieces(data, head.end(), end)
    return result


def _read_pieces(data: bytes, start: int, end: int) -> ReadResult:
    """A delivery file that is not JSON as a whole (a record with a raw control character,
    or cut short): cut between its records, and each piece parsed alone, so that a broken
    record, rejected, costs none of its neighbours."""
    result = ReadResult("records")
    lines = []
    for position, (a, b) in enumerate(zip(*_record_spans(data, start, end), strict=True), 1):
        piece = data[a:b].rstrip()
        try:
            lines.append(_dumps(_loads(piece)))
            continue
        except UnicodeDecodeError as e:
            why = f"record is {_describe(e)}"
        except TooDeep as e:
            why = str(e)
        except ValueError as e:
            why = f"invalid JSON: {e}"
        result.rejected.append((position, why, piece.decode("utf-8", "backslashreplace")))
        lines.append(b"")
    result.chunks = [Chunk(b"\n".join(lines))]
    return result


def _record_spans(data: bytes, start: int, end: int) -> tuple[list[int], list[int]]:
    """Where each record of a delivery file's Records array starts and ends, cut at every
    boundary between `start` and `end`; the text is not copied."""
    starts, ends = [start], []
    at = data.find(_BOUNDARY, start, end)
    while at != -1:
        ends.append(at + 1)
        starts.append(at + 2)
        at = data.find(_BOUNDARY, at + len(_BOUNDARY), end)
    ends.append(end)
    return starts, ends


class _TooLarge(Exception):
    """Inflating went past the cap."""


def _gunzip(data: bytes, max_size: int) -> bytes:
    """Inflate with ISA-L (about twice zlib's speed); zlib says what is wrong with a file ISA-L
    cannot inflate."""
    try:
        return _inflate(data, isal_zlib.decompressobj, max_size)
    except _TooLarge:
        raise
    except Exception:  # noqa: BLE001 - ISA-L's IsalError or ours; zlib then says which
        return _inflate(data, zlib.decompressobj, max_size)


def _inflate(data: bytes, decompressobj: Callable[[int], Any], max_size: int) -> bytes:
    """A gzip member at a time (AWS writes one), each straight into one buffer: joining the
    pieces of a streamed read copied every file once more. Zero padding after a member is
    allowed, as gzip allows it. No more than `max_size` bytes are ever inflated: the buffer
    grows as it fills (measured: no slower than without a limit), and one byte past the cap
    stops it."""
    members = []
    room = max_size
    while data:
        d = decompressobj(31)  # a gzip header and trailer
        member = d.decompress(data, room + 1)
        if len(member) > room:
            raise _TooLarge
        room -= len(member)
        members.append(member)
        if not d.eof:
            raise zlib.error("incomplete or truncated stream")
        data = d.unused_data.lstrip(b"\x00")
    return members[0] if len(members) == 1 else b"".join(members)


class TooDeep(ValueError):
    """JSON nested more deeply than the parsers go."""

    def __init__(self) -> None:
        super().__init__(
            "JSON nested too deeply to parse (more levels than Python's parser allows; "
            "CloudTrail records nest a few levels)"
        )


def _loads(data: bytes | str) -> Any:
    """orjson, falling back to the standard library for what orjson refuses but JSON allows
    (lone surrogate escapes, integers beyond 64 bits, nesting beyond orjson's 1,024 levels)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        try:
            return json.loads(data)
        except RecursionError:
            raise TooDeep from None


def _text(value: Any) -> str:
    """A value JSON has no type for (Parquet's decimals, bytes, durations), as text."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_text)
    except TypeError:  # what only the standard library parsed (huge ints, lone surrogates)
        try:
            return json.dumps(value, separators=(",", ":"), default=_text).encode()
        except RecursionError:  # orjson writes 255 levels, the standard library ~1,000
            raise TooDeep from None


def read_slow(data: bytes) -> ReadResult:
    """Parse the whole document, then pick the records out of whatever shape it has."""
    lossy = False
    try:
        doc = _loads(data)
    except UnicodeDecodeError as whole_error:
        # bytes that are not UTF-8: parsed with each such byte kept as a lone surrogate
        # (Python's surrogateescape), so that only the records holding one are rejected
        try:
            doc, lossy = json.loads(data.decode("utf-8", "surrogateescape")), True
        except (ValueError, RecursionError):
            return _read_json_lines(data, whole_error)
    except ValueError as whole_error:
        joined = _joined_deliveries(data)
        if joined is not None:
            return _records_result("records", joined)
        return _read_json_lines(data, whole_error)
    if _is_delivery(doc):
        return _records_result("records", doc["Records"], lossy)
    if isinstance(doc, dict) and isinstance(
        doc.get("Events"), list
    ):  # `aws cloudtrail lookup-events`
        return _records_result("lookup-events", doc["Events"], lossy)
    if isinstance(doc, list):
        unpacked = _unpacked(doc)
        return _records_result("array", doc if unpacked is None else unpacked, lossy)
    if isinstance(doc, dict) and any(k in doc for k in MARKERS):
        return _records_result("object", [doc], lossy)
    if isinstance(doc, dict):
        keys = ", ".join(sorted(doc)[:8]) or "none"
        return ReadResult("json", error=f"JSON, but not CloudTrail: an object with keys {keys}")
    return ReadResult("json", error=f"JSON, but not CloudTrail: {_kind(doc)}")


def _is_delivery(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("Records"), list)


def _unpacked(docs: list[Any]) -> list[Any] | None:
    """Records, where some of the documents are whole delivery files ({"Records": [...]},
    joined by `jq -s`, `cat` or `zcat`): each one's records in its place, numbered on from
    the records before. None where none is."""
    if not any(map(_is_delivery, docs)):
        return None
    return [record for doc in docs for record in (doc["Records"] if _is_delivery(doc) else [doc])]


_NOT_SPACE = re.compile(r"\S")


def _past_space(text: str, at: int) -> int:
    found = _NOT_SPACE.search(text, at)
    return len(text) if found is None else found.start()


def _joined_deliveries(data: bytes) -> list[Any] | None:
    """The records of JSON documents one after another, some of them delivery files (`cat
    a.json b.json`, or JSON lines of them); None for anything else, JSON lines of records
    included, which are read line by line."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    decoder = json.JSONDecoder()
    docs, at = [], _past_space(text, 0)
    try:
        while at < len(text):
            doc, at = decoder.raw_decode(text, at)
            docs.append(doc)
            at = _past_space(text, at)
    except (ValueError, RecursionError):
        return None
    return _unpacked(docs)


def _kind(value: Any) -> str:
    """What JSON calls a value's type: a number, a string, an array..."""
    for kind, name in ((bool, "a boolean"), ((int, float), "a number"), (str, "a string")):
        if isinstance(value, kind):
            return name
    return "null" if value is None else "an array"


_ESCAPED_BYTE = re.compile("[\udc80-\udcff]")  # a byte that is not UTF-8, by surrogateescape


def _records_result(fmt: str, records: list[Any], lossy: bool = False) -> ReadResult:
    """One line a record; a record that cannot be written as UTF-8 JSON is rejected, its line
    left empty so that the others keep their positions. `lossy`: the document was not UTF-8,
    and its stray bytes are lone surrogates in the strings."""
    result = ReadResult(fmt)
    lines = []
    for position, record in enumerate(records, 1):
        if lossy:
            text = json.dumps(record, ensure_ascii=False, separators=(",", ":"))
            stray = _ESCAPED_BYTE.search(text)
            if stray is not None:
                raw = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
                byte = ord(stray.group()) - 0xDC00
                result.rejected.append(
                    (position, f"record is not valid UTF-8: byte 0x{byte:02X} in its text", raw)
                )
                lines.append(b"")
                continue
        try:
            lines.append(_dumps(record))
        except TooDeep as e:
            result.rejected.append((position, str(e), None))
            lines.append(b"")
    result.chunks = [Chunk(b"\n".join(lines))] if records else []
    return result


def _read_json_lines(data: bytes, whole_error: Exception) -> ReadResult:
    """JSON lines, where every line stands alone; otherwise the file is rejected as invalid."""
    lines = data.split(b"\n")
    filled = [ln for ln in lines if ln.strip()]
    # any line that is a JSON object makes it JSON lines: bad lines before it do not hide it
    sample = next((doc for doc in map(_loads_or_none, filled) if isinstance(doc, dict)), None)
    if sample is None or len(filled) < 2:
        return ReadResult("json", error=f"invalid JSON: {_describe(whole_error)}")
    result = ReadResult("lookup-events" if "CloudTrailEvent" in sample else "jsonl")
    for number, line in enumerate(lines, 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            result.rejected.append(
                (
                    number,
                    (f"line is not valid UTF-8: {e.reason} at byte {e.start}"),
                    line.decode("utf-8", "backslashreplace"),
                )
            )
            lines[number - 1] = b""  # keep the numbering; the line is accounted for above
    result.chunks = [Chunk(b"\n".join(lines))]
    return result


def _loads_or_none(line: bytes) -> Any:
    try:
        return _loads(line)
    except (ValueError, UnicodeDecodeError):
        return None


def _describe(e: Exception) -> str:
    if isinstance(e, UnicodeDecodeError):
        return f"not valid UTF-8 ({e.reason} at byte {e.start})"
    return str(e)


# a time as records and exports write one: 2024-01-31T12:00:00Z, ...+00:00, with a fraction
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


def _content(value: Any) -> Any:
    """A record's content, without what converting it (an export, Parquet) changes: null
    fields, which of true and "true" a scalar is, and how a time is written."""
    if isinstance(value, dict):
        return {k: _content(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_content(v) for v in value]
    if isinstance(value, str):
        if _TIME.match(value):
            try:
                when = dt.datetime.fromisoformat(value)
            except ValueError:
                return value
            return when.astimezone(dt.UTC).isoformat()
        return value
    return json.dumps(value)


def differences(text: str, kept: str) -> str:
    """The top-level fields in which two copies of a record differ, comma-separated: empty
    when they hold the same content written differently (key order, spacing, nulls, a
    converted export's types)."""
    try:
        a, b = _content(_loads(text)), _content(_loads(kept))
    except ValueError:
        return "(the whole record)"
    if not (isinstance(a, dict) and isinstance(b, dict)):
        return "" if a == b else "(the whole record)"
    return ", ".join(sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)))


def reason_for_line(line: str) -> str:
    """Why DuckDB could not take a line as JSON, in words a responder can act on."""
    try:
        value = orjson.loads(line.encode("utf-8", "surrogatepass"))
    except orjson.JSONDecodeError as e:
        if "surrogate" in str(e):
            return f"JSON with a lone UTF-16 surrogate escape, which DuckDB cannot store: {e}"
        return f"invalid JSON: {e}"
    if value is None:  # json_transform makes null what it makes of text that is not JSON
        return "not a JSON object: null"
    return "JSON that DuckDB's parser rejects"


# Parquet ---------------------------------------------------------------------------------------

# Athena and Glue lower-case column and struct field names; CloudTrail's own names, by lower case.
CLOUDTRAIL_NAMES = {
    n.lower(): n
    for n in [
        "eventVersion",
        "userIdentity",
        "type",
        "principalId",
        "arn",
        "accountId",
        "accessKeyId",
        "userName",
        "invokedBy",
        "sessionContext",
        "sessionIssuer",
        "attributes",
        "creationDate",
        "mfaAuthenticated",
        "assumedRoot",
        "sourceIdentity",
        "webIdFederationData",
        "federatedProvider",
        "ec2RoleDelivery",
        "credentialId",
        "inScopeOf",
        "issuerType",
        "credentialsIssuedTo",
        "issuerAccountId",
        "onBehalfOf",
        "userId",
        "identityStoreArn",
        "invokedByDelegate",
        "identityProvider",
        "eventTime",
        "eventSource",
        "eventName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "errorCode",
        "errorMessage",
        "requestParameters",
        "responseElements",
        "additionalEventData",
        "requestID",
        "eventID",
        "readOnly",
        "resources",
        "eventType",
        "apiVersion",
        "managementEvent",
        "recipientAccountId",
        "sharedEventID",
        "vpcEndpointId",
        "vpcEndpointAccountId",
        "eventCategory",
        "tlsDetails",
        "tlsVersion",
        "cipherSuite",
        "clientProvidedHostHeader",
        "sessionCredentialFromConsole",
        "serviceEventDetails",
        "insightDetails",
        "addendum",
        "edgeDeviceDetails",
    ]
}
# Variable parts that exports keep as JSON text in a string column
JSON_TEXT_FIELDS = {
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "serviceEventDetails",
    "resources",
    "tlsDetails",
    "userIdentity",
    "insightDetails",
    "addendum",
    "edgeDeviceDetails",
}


def _canonical(value: Any, top: bool = False, resource: bool = False) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if v is None and not top:
                continue  # a struct column has every field; the record had only some
            # resources[] items spell it ARN; everywhere else it is arn
            name = "ARN" if resource and k.lower() == "arn" else CLOUDTRAIL_NAMES.get(k.lower(), k)
            if top and name in JSON_TEXT_FIELDS and isinstance(v, str):
                try:
                    v = _loads(v)
                except ValueError:
                    pass
            out[name] = _canonical(v, resource=top and name == "resources")
        return out
    if isinstance(value, list):
        return [_canonical(v, resource=resource) for v in value]
    return value


def _read_parquet_file(data: bytes) -> ReadResult:
    try:
        return ReadResult("parquet", list(read_parquet(data)))
    except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds for a bad file
        return ReadResult("parquet", error=f"unreadable Parquet: {e}")


def read_parquet(data: bytes) -> Iterator[Chunk]:
    """A Parquet export, in bounded row groups, as JSON lines with CloudTrail's field names."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    position = 0
    for batch in pq.ParquetFile(pa.BufferReader(data)).iter_batches(batch_size=PARQUET_ROWS):
        rows = batch.to_pylist(maps_as_pydicts="lossy")
        text = b"\n".join(_dumps(_canonical(r, top=True)) for r in rows)
        yield Chunk(text, offset=position)
        position += len(rows)

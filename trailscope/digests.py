"""CloudTrail digest files: what each says, whether AWS signed it, and the chain they form.

With log file integrity validation on, a trail delivers every hour, per account and region, a
gzipped JSON digest under `AWSLogs/[o-org/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/`
listing the SHA-256 of every log file it delivered in that hour and naming the previous digest
(CloudTrail User Guide, "CloudTrail digest file structure"; "Custom implementations of
CloudTrail log file integrity validation"). What this module relies on, from those pages, the
`aws cloudtrail list-public-keys` reference and the AWS CLI's `validate-logs`
(awscli/customizations/cloudtrail/validation.py):

- `logFiles[].hashValue` and `previousDigestHashValue` are the hex SHA-256 of the file's
  *uncompressed* content. `validate-logs` inflates one gzip member and, since its 2026 fix
  (aws-cli pull requests 10324/10326, "Validate CloudTrail log files don't have appended
  data"), refuses data after it: anything past the first member is covered by no hash.
- A digest is signed with RSA PKCS#1 v1.5 over SHA-256 (`SHA256withRSA`) of the string
  `digestEndTime + "\\n" + digestS3Bucket + "/" + digestS3Object + "\\n" + hex(SHA-256 of the
  uncompressed digest) + "\\n" + previousDigestSignature`, the last being `null` in a starting
  digest (the CLI: "the value must be 'null' to match the Java implementation").
- The digest's own signature is in its S3 object metadata (`x-amz-meta-signature`, and
  `x-amz-meta-signature-algorithm`); its successor repeats it as `previousDigestSignature`.
  A local copy has no metadata, so its newest digest is vouched for by nothing.
- CloudTrail signs with a key pair per region; `ListPublicKeys` returns the public keys in use
  over a time range, each with its validity times and a fingerprint, and the digest names its
  key in `digestPublicKeyFingerprint`. The key `Value` is DER (PKCS #1); the fingerprint is
  the MD5 of those DER bytes (checked here on the three keys of AWS's published sample
  response). Keys' validity ranges may overlap.
- A starting digest (validation started or restarted) has null `previousDigest*` fields; no
  digests are made while validation or logging is off, so the chain then has a gap.
- Backfill digests (`..._backfill.json.gz`) list log files a regular digest missed through
  processing delays; `validate-logs` walks them as a chain of their own and takes their key
  from around the `x-amz-meta-backfill-generation-timestamp` of the object (aws-cli pull
  requests 10058/10059). Around a key rotation it asks ListPublicKeys for two more hours each
  side of the range (pull requests 10072/10073).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope.errors import TrailscopeError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

UTC = dt.UTC
DIGEST_FOLDER = "CloudTrail-Digest"
ALGORITHM = "SHA256withRSA"
# <account>_CloudTrail-Digest_<region>_<trail>_<home region>_<end>[_backfill].json.gz: a trail
# name may hold underscores, a region never does
_NAME = re.compile(
    r"^(?P<account>\d{12})_CloudTrail-Digest_(?P<region>[a-z0-9-]+)_(?P<trail>.+)_"
    r"(?P<home>[a-z]{2}(?:-[a-z]+)+-\d+)_(?P<end>\d{8}T\d{6}Z)(?P<backfill>_backfill)?\.json\.gz$"
)
# The keys a digest must have to be checked at all (validate-logs refuses it without them).
_REQUIRED = (
    "digestStartTime",
    "digestEndTime",
    "digestS3Bucket",
    "digestS3Object",
    "digestPublicKeyFingerprint",
    "previousDigestSignature",
    "logFiles",
)
# A digest is made when its period ends (its key is named after digestEndTime) and signed when
# delivered: the key must be valid at some moment in this window after digestEndTime.
SIGNING_WINDOW = dt.timedelta(hours=1)
KEY_QUERY_MARGIN = dt.timedelta(hours=2)  # validate-logs' buffer around a key rotation


class BadKeys(TrailscopeError):
    """A public-key file cannot be read, or no keys are at hand to check signatures with."""


def tail(path: str) -> str:
    """Where a file sits in CloudTrail's layout: its path from the last `AWSLogs` folder on
    (`AWSLogs/o-org/111122223333/CloudTrail/...`), the same for an S3 key, an s3:// URL and
    a local copy of either; the file name alone where there is no AWSLogs folder."""
    parts = path.replace("\\", "/").split("/")
    if "AWSLogs" in parts[:-1]:
        i = len(parts) - 1 - parts[::-1].index("AWSLogs")
        return "/".join(parts[i:])
    return parts[-1]


def first_member(data: bytes) -> tuple[bytes, bytes]:
    """A gzip file's first member inflated, and whatever follows it (b"" for a file as AWS
    writes it). Bytes that are not gzip are their own content: a copy someone gunzipped.
    Raises zlib.error for a damaged member."""
    if data[:2] != b"\x1f\x8b":
        return data, b""
    from isal import isal_zlib

    d = isal_zlib.decompressobj(31)  # a gzip header and trailer
    inflated = d.decompress(data)
    if not d.eof:
        raise zlib.error("truncated gzip member")
    return inflated, d.unused_data


def _time(value: Any) -> dt.datetime | None:
    """A time as digests, the CLI (ISO text or epoch seconds, as text or a number) and boto3
    (datetime) write it, in UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return dt.datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            return dt.datetime.fromtimestamp(float(value), UTC)
        except ValueError:
            pass
        try:
            return _time(dt.datetime.fromisoformat(value))
        except ValueError:
            pass
    raise ValueError(f"not a time: {value!r}")


def iso(t: dt.datetime | None) -> str:
    return "?" if t is None else t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------
# public keys


@dataclass(frozen=True)
class PublicKey:
    """One of CloudTrail's public keys, as ListPublicKeys returns it."""

    fingerprint: str
    der: bytes
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None

    @cached_property
    def rsa(self) -> RSAPublicKey:
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
        from cryptography.hazmat.primitives.serialization import load_der_public_key

        key = load_der_public_key(self.der)  # PKCS #1 RSAPublicKey or SubjectPublicKeyInfo
        if not isinstance(key, RSAPublicKey):
            raise BadKeys(f"public key {self.fingerprint} is not an RSA key")
        return key

    def valid_during(self, start: dt.datetime, end: dt.datetime | None) -> bool:
        """True when the key's validity overlaps [start, end] (end None: open)."""
        if self.valid_until is not None and self.valid_until < start:
            return False
        return not (end is not None and self.valid_from is not None and self.valid_from > end)


def keys_from_listing(listing: Mapping[str, Any], where: str) -> list[PublicKey]:
    """The keys of a ListPublicKeys answer: boto3's (Value as bytes, times as datetimes) or the
    JSON `aws cloudtrail list-public-keys` prints (Value in base64, times as ISO text or epoch
    seconds). A key whose fingerprint is not the MD5 of its value is refused: the file was
    edited."""
    entries = next((v for k, v in listing.items() if k.lower() == "publickeylist"), None)
    if not isinstance(entries, list):
        raise BadKeys(
            f"{where}: no PublicKeyList (expected what `aws cloudtrail list-public-keys` prints)"
        )
    keys = []
    for n, entry in enumerate(entries, 1):
        try:
            value = entry["Value"]
            der = value if isinstance(value, bytes) else base64.b64decode(value, validate=True)
            key = PublicKey(
                fingerprint=str(entry["Fingerprint"]).lower(),
                der=der,
                valid_from=_time(entry.get("ValidityStartTime")),
                valid_until=_time(entry.get("ValidityEndTime")),
            )
        except (KeyError, TypeError, ValueError, binascii.Error) as e:
            raise BadKeys(f"{where}: key {n} is not a public key entry ({e})") from e
        if hashlib.md5(der).hexdigest() != key.fingerprint:  # AWS fingerprints keys by MD5
            raise BadKeys(
                f"{where}: key {n}'s value does not match its fingerprint {key.fingerprint}"
            )
        keys.append(key)
    return keys


def load_keys(paths: Iterable[str | Path]) -> dict[str, PublicKey]:
    """The keys of files holding what `aws cloudtrail list-public-keys` prints, by fingerprint."""
    keys: dict[str, PublicKey] = {}
    for path in paths:
        try:
            listing = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise BadKeys(f"cannot read public keys from {path}: {e}") from e
        if not isinstance(listing, dict):
            raise BadKeys(f"{path}: expected a JSON object with a PublicKeyList")
        keys.update((k.fingerprint, k) for k in keys_from_listing(listing, str(path)))
    return keys


# ---------------------------------------------------------------------------------------------
# digest files


@dataclass(frozen=True)
class LogEntry:
    """One log file a digest lists."""

    bucket: str
    key: str
    sha256: str
    algorithm: str
    newest: dt.datetime | None
    oldest: dt.datetime | None

    @property
    def tail(self) -> str:
        return tail(self.key)

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass
class Digest:
    """A digest file as read from `path`, with the signature its S3 metadata gave (None for a
    local copy). `error` says why it could not be read as a digest at all."""

    path: str
    sha256: str = ""  # of the inflated content
    trailing: int = 0  # bytes after the first gzip member
    fields: dict[str, Any] = field(default_factory=dict)
    signature: str | None = None  # x-amz-meta-signature
    signature_algorithm: str | None = None  # x-amz-meta-signature-algorithm
    backfill_generated: dt.datetime | None = None  # x-amz-meta-backfill-generation-timestamp
    error: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    log_files: list[LogEntry] = field(default_factory=list)

    @property
    def tail(self) -> str:
        return tail(self.path)

    @property
    def name(self) -> re.Match[str] | None:
        return _NAME.match(self.path.rsplit("/", 1)[-1])

    @property
    def backfill(self) -> bool:
        return self.path.endswith("_backfill.json.gz")

    @property
    def bucket(self) -> str:
        return str(self.fields.get("digestS3Bucket") or "")

    @property
    def key(self) -> str:
        return str(self.fields.get("digestS3Object") or "")

    @property
    def fingerprint(self) -> str:
        return str(self.fields.get("digestPublicKeyFingerprint") or "").lower()

    @property
    def previous_key(self) -> str | None:
        value = self.fields.get("previousDigestS3Object")
        return str(value) if value else None

    @property
    def previous_bucket(self) -> str | None:
        value = self.fields.get("previousDigestS3Bucket")
        return str(value) if value else None

    @property
    def previous_signature(self) -> str | None:
        value = self.fields.get("previousDigestSignature")
        return str(value).lower() if value else None

    @property
    def previous_sha256(self) -> str | None:
        value = self.fields.get("previousDigestHashValue")
        return str(value).lower() if value else None

    @property
    def signed_at(self) -> tuple[dt.datetime, dt.datetime | None] | None:
        """When it was signed, as a window: after its period ends (a backfill digest, when its
        metadata says it was generated; without the metadata, at any time after its period)."""
        if self.backfill:
            if self.backfill_generated is not None:
                return self.backfill_generated, self.backfill_generated
            return (self.end, None) if self.end else None
        return (self.end, self.end + SIGNING_WINDOW) if self.end else None

    @property
    def group(self) -> tuple[str, str, str, bool]:
        """The chain it belongs to: its folder (account and region), trail and home region,
        and whether it is a backfill digest (backfill digests chain among themselves)."""
        name = self.name
        folder = self.tail.rsplit("/", 4)[0]  # .../CloudTrail-Digest/<region>
        trail = name["trail"] if name else ""
        home = name["home"] if name else ""
        return folder, trail, home, self.backfill

    def message(self) -> bytes:
        """The string CloudTrail signs (see the module docstring)."""
        return string_to_sign(
            str(self.fields["digestEndTime"]),
            self.bucket,
            self.key,
            self.sha256,
            self.fields.get("previousDigestSignature"),
        )


def string_to_sign(
    end_time: str, bucket: str, key: str, sha256_hex: str, previous_signature: str | None
) -> bytes:
    """Data_To_Sign_String of the CloudTrail User Guide: digestEndTime, bucket/key, the
    digest's hex SHA-256 and the previous signature (`null` in a starting digest), one a line."""
    previous = "null" if previous_signature is None else previous_signature
    return f"{end_time}\n{bucket}/{key}\n{sha256_hex}\n{previous}".encode()


def sign(private_key: RSAPrivateKey, message: bytes) -> str:
    """SHA256withRSA (PKCS#1 v1.5) of `message`, in hex: how CloudTrail signs a digest (for
    building test chains with a key pair of one's own)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    return private_key.sign(message, padding.PKCS1v15(), hashes.SHA256()).hex()


def signature_verifies(key: PublicKey, signature_hex: str, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        key.rsa.verify(bytes.fromhex(signature_hex), message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def parse(path: str, data: bytes, metadata: Mapping[str, str] | None = None) -> Digest:
    """A digest file's bytes (and, read from S3, its object metadata) as a Digest; a file that
    is not a readable digest comes back with `error` set."""
    meta = {k.lower(): v for k, v in (metadata or {}).items()}
    d = Digest(
        path,
        signature=meta.get("signature", "").lower() or None,
        signature_algorithm=meta.get("signature-algorithm") or None,
    )
    try:
        inflated, rest = first_member(data)
    except zlib.error as e:
        d.error = f"not a readable gzip file ({e})"
        return d
    d.sha256, d.trailing = hashlib.sha256(inflated).hexdigest(), len(rest)
    try:
        fields = json.loads(inflated)
    except ValueError as e:
        d.error = f"not JSON ({e})"
        return d
    if not isinstance(fields, dict) or any(k not in fields for k in _REQUIRED):
        missing = [k for k in _REQUIRED if not isinstance(fields, dict) or k not in fields]
        d.error = f"not a CloudTrail digest: no {', '.join(missing)}"
        return d
    d.fields = fields
    try:
        d.start, d.end = _time(fields["digestStartTime"]), _time(fields["digestEndTime"])
        if "backfill-generation-timestamp" in meta:
            d.backfill_generated = _time(meta["backfill-generation-timestamp"])
        entries = fields["logFiles"] or []
        d.log_files = [
            LogEntry(
                bucket=str(e["s3Bucket"]),
                key=str(e["s3Object"]),
                sha256=str(e["hashValue"]).lower(),
                algorithm=str(e.get("hashAlgorithm") or "SHA-256"),
                newest=_time(e.get("newestEventTime")),
                oldest=_time(e.get("oldestEventTime")),
            )
            for e in entries
        ]
    except (KeyError, TypeError, ValueError) as e:
        d.error = f"a field cannot be read ({e})"
    if d.start is None or d.end is None:
        d.error = d.error or "no digestStartTime or digestEndTime"
    return d


# ---------------------------------------------------------------------------------------------
# the chain

# digest statuses, worst first; `valid` means its signature verifies with a key CloudTrail
# published for that time and it sits where it says it was delivered
DIGEST_PROBLEMS = (
    "malformed",
    "moved",
    "unsupported",
    "unknown_key",
    "bad_signature",
    "key_not_valid",
    "appended",
    "missing",
)
LINK_PROBLEMS = ("missing", "broken", "gap")


@dataclass
class DigestResult:
    """The verdict on one digest, or on one the chain names that is absent (status missing)."""

    path: str
    status: str
    reason: str
    digest: Digest | None = None
    link: str | None = None  # linked, start, outside, gap, missing, broken
    link_reason: str | None = None
    previous: str | None = None  # the previous digest's s3://bucket/key
    # for a missing digest: the period it covered, as far as its neighbours tell
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    group: tuple[str, str, str, bool] | None = None

    @property
    def trusted(self) -> bool:
        """Its list of log files can be relied on."""
        return self.status == "valid"


def _signatures(d: Digest, successors: Sequence[Digest]) -> list[tuple[str, str]]:
    """The signatures at hand for `d`, with where each came from."""
    out = [("its S3 object metadata", d.signature)] if d.signature else []
    out += [
        (f"the previousDigestSignature of {s.path}", s.previous_signature)
        for s in successors
        if s.previous_signature
    ]
    return [(where, sig) for where, sig in out if sig]


def _verdict(
    d: Digest, from_s3: bool, successors: Sequence[Digest], keys: Mapping[str, PublicKey]
) -> tuple[str, str]:
    """(status, reason) for one digest read from `d.path`."""
    if d.error:
        return "malformed", d.error
    if from_s3:
        where_read = d.path.removeprefix("s3://")
        moved = where_read != f"{d.bucket}/{d.key}"
    else:
        moved = d.tail != tail(d.key)
    if moved:
        return "moved", (
            f"it says it was delivered to s3://{d.bucket}/{d.key}, and was read from {d.path}: "
            "a digest is valid only where CloudTrail put it"
        )
    algorithms = {str(d.fields.get("digestSignatureAlgorithm") or ALGORITHM)}
    algorithms |= {d.signature_algorithm} if d.signature_algorithm else set()
    if algorithms != {ALGORITHM}:
        return (
            "unsupported",
            f"signature algorithm {', '.join(sorted(algorithms))}, not {ALGORITHM}",
        )
    key = keys.get(d.fingerprint)
    region = d.name["region"] if d.name else "its region"
    if key is None:
        return "unknown_key", (
            f"no public key with fingerprint {d.fingerprint} among the keys given: fetch "
            f"CloudTrail's keys for {region} over its time (aws cloudtrail list-public-keys "
            f"--region {region}); a digest signed with a key CloudTrail never published is forged"
        )
    signatures = _signatures(d, successors)
    if not signatures:
        return "unverified", (
            "its signature is in its S3 object metadata, which a local copy lacks, and no later "
            "digest in the sources names it: nothing vouches for this digest (verify from s3:// "
            "to check it)"
        )
    message = d.message()
    good = [where for where, sig in signatures if signature_verifies(key, sig, message)]
    if not good:
        return "bad_signature", (
            f"the signature from {signatures[0][0]} does not verify with CloudTrail's key "
            f"{d.fingerprint}: the digest was altered or was not made by CloudTrail"
        )
    window = d.signed_at
    if window is not None and not key.valid_during(*window):
        return "key_not_valid", (
            f"signed with key {d.fingerprint}, valid {iso(key.valid_from)} to "
            f"{iso(key.valid_until)}, but signed at {iso(window[0])}"
            + (f" to {iso(window[1])}" if window[1] and window[1] != window[0] else "")
            + ": CloudTrail did not use that key then"
        )
    if d.trailing:
        return "appended", (
            f"{d.trailing:,} bytes follow its gzip member; the signature covers only the first"
        )
    return "valid", f"signature verified with key {d.fingerprint} ({good[0]})"


def check_chain(
    digests: Sequence[Digest], keys: Mapping[str, PublicKey], *, from_s3: Mapping[str, bool]
) -> list[DigestResult]:
    """Every digest's verdict and link to its predecessor, and a `missing` row for each digest
    the chain names that the sources lack. `from_s3[path]` says the digest was read from S3,
    where its location can be checked exactly (a local copy: from the AWSLogs folder on)."""
    by_tail: dict[str, Digest] = {}
    successors: dict[str, list[Digest]] = {}
    for d in digests:
        by_tail.setdefault(d.tail, d)
        if d.previous_key:
            successors.setdefault(tail(d.previous_key), []).append(d)
    results = []
    chains: dict[tuple[str, str, str, bool], list[tuple[dt.datetime, DigestResult, Digest]]] = {}
    for d in digests:
        status, reason = _verdict(d, from_s3.get(d.path, False), successors.get(d.tail, []), keys)
        result = DigestResult(d.path, status, reason, d, group=d.group)
        results.append(result)
        if not d.error and d.end is not None:
            chains.setdefault(d.group, []).append((d.end, result, d))
    for group, chain in chains.items():  # each digest's link to its predecessor, in time order
        chain.sort(key=lambda item: (item[0], item[1].path))
        for i, (_, result, d) in enumerate(chain):
            absent = _link(result, d, chain[i - 1][2] if i else None, by_tail, from_s3)
            if absent is not None:
                absent.group = group
                results.append(absent)
    return results


def _link(
    r: DigestResult,
    d: Digest,
    before: Digest | None,
    by_tail: Mapping[str, Digest],
    from_s3: Mapping[str, bool],
) -> DigestResult | None:
    """Set r.link for digest `d` (`before`: the digest before it in its chain's time order);
    the predecessor it names, when that is absent from the sources."""
    if d.previous_key is None:
        r.link, r.link_reason = "start", "a starting digest: validation began here"
        if before and before.end and d.start and d.start > before.end and not d.backfill:
            r.link = "gap"  # (backfill digests come when needed: no period is theirs alone)
            r.link_reason = (
                f"a starting digest after {before.path}, which ends at {iso(before.end)}: no "
                f"digests from {iso(before.end)} to {iso(d.start)} (validation or logging was "
                "off), so nothing delivered then can be verified"
            )
        return None
    r.previous = f"s3://{d.previous_bucket}/{d.previous_key}"
    p = by_tail.get(tail(d.previous_key))
    if p is None and before is None:
        r.link = "outside"
        r.link_reason = f"its predecessor {r.previous} precedes the digests in the sources"
        return None
    if p is None:
        assert before is not None
        r.link, r.link_reason = "missing", f"its predecessor {r.previous} is absent"
        return DigestResult(
            r.previous,
            "missing",
            f"named as its predecessor by {d.path}, absent from the sources: the log files "
            f"delivered from {iso(before.end)} to {iso(d.start)} cannot be verified, and a "
            "deleted digest hides what it listed",
            start=before.end,
            end=d.start,
        )
    broken = []
    if d.previous_sha256 != p.sha256:
        broken.append(
            f"its previousDigestHashValue {d.previous_sha256} is not the SHA-256 of {p.path} "
            f"({p.sha256})"
        )
    if p.signature and d.previous_signature != p.signature:
        broken.append(f"its previousDigestSignature is not the signature of {p.path}")
    if from_s3.get(p.path) and p.path.removeprefix("s3://") != r.previous.removeprefix("s3://"):
        broken.append(f"it names {r.previous}, read from {p.path}")
    r.link = "broken" if broken else "linked"
    r.link_reason = "; ".join(broken) if broken else f"links to {p.path}"
    return None


def key_query(digests: Iterable[Digest]) -> dict[str, tuple[dt.datetime, dt.datetime]]:
    """Per region, the time range to ask ListPublicKeys about for these digests: when they were
    signed, two hours more each side (validate-logs' margin at a key rotation)."""
    ranges: dict[str, tuple[dt.datetime, dt.datetime]] = {}
    for d in digests:
        name, window = d.name, d.signed_at
        if d.error or name is None or window is None:
            continue
        first, last = window[0], window[1] or window[0] + dt.timedelta(days=1)
        lo, hi = ranges.get(name["region"], (first, last))
        ranges[name["region"]] = (min(lo, first), max(hi, last))
    return {r: (lo - KEY_QUERY_MARGIN, hi + KEY_QUERY_MARGIN) for r, (lo, hi) in ranges.items()}

"""Signed CloudTrail digest chains for a tree of log files, made with a key pair of one's own:
what the tests and the benchmark verify, with CloudTrail's algorithm (trailscope.digests) and no
network.

For every account and region folder of the tree, one digest an hour from the hour of its first
file to that of its last, each listing the files whose name time (CloudTrail names a file after
its newest event, about when it is delivered) falls in its hour, and naming and carrying the
signature of the one before: a starting digest, then a chain, as CloudTrail writes them
(CloudTrail User Guide, "CloudTrail digest file structure"). A listed file's newest and oldest
event times are both its name time: nothing checks them.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from trailscope import digests

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

UTC = dt.UTC
HOUR = dt.timedelta(hours=1)
_STAMP = re.compile(r"_(\d{8}T\d{4})Z_")


@dataclass(frozen=True)
class Signer:
    """A private key and the fingerprint CloudTrail would publish for its public half."""

    key: RSAPrivateKey
    fingerprint: str


@dataclass(frozen=True)
class Written:
    """One digest written: where, the S3 key it says it has, and its signature (what S3 would
    keep in its x-amz-meta-signature)."""

    path: Path
    key: str
    signature: str
    end: dt.datetime


def signer(key: RSAPrivateKey) -> Signer:
    """The fingerprint is the MD5 of the public key's DER (PKCS #1), as ListPublicKeys gives it."""
    return Signer(key, hashlib.md5(public_der(key)).hexdigest())


def public_der(key: RSAPrivateKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.PKCS1
    )


def new_key() -> RSAPrivateKey:
    """A fresh 2048-bit RSA key pair, the size of CloudTrail's."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def listing(keys: list[tuple[Signer, dt.datetime, dt.datetime]]) -> dict[str, object]:
    """What `aws cloudtrail list-public-keys` prints for these keys and validity times."""
    return {
        "PublicKeyList": [
            {
                "Value": base64.b64encode(public_der(s.key)).decode(),
                "ValidityStartTime": start.isoformat(),
                "ValidityEndTime": end.isoformat(),
                "Fingerprint": s.fingerprint,
            }
            for s, start, end in keys
        ]
    }


def _hour(t: dt.datetime) -> dt.datetime:
    return t.replace(minute=0, second=0, microsecond=0)


def write_digests(
    tree: str | Path,
    key_at: Callable[[dt.datetime], Signer],
    *,
    bucket: str = "trailscope-synthetic",
    prefix: str = "",
    trail: str = "org-trail",
    home: str = "us-east-1",
) -> list[Written]:
    """Write the digests of every log file under tree/AWSLogs (see the module docstring) as if
    the tree were s3://bucket/prefix, each signed with key_at(its end time); return them, oldest
    first in each chain."""
    root = Path(tree)
    folders: dict[Path, list[tuple[dt.datetime, Path]]] = {}
    for path in sorted(root.glob("AWSLogs/**/CloudTrail/*/*/*/*/*.json.gz")):
        stamp = _STAMP.search(path.name)
        if stamp is None:
            continue
        when = dt.datetime.strptime(stamp.group(1), "%Y%m%dT%H%M").replace(tzinfo=UTC)
        folders.setdefault(path.parents[3], []).append((when, path))  # .../CloudTrail/<region>
    written: list[Written] = []
    for folder, files in sorted(folders.items()):
        region, account = folder.name, folder.parent.parent.name
        digest_folder = folder.parent.parent / "CloudTrail-Digest" / region
        files.sort()
        start, last = _hour(files[0][0]), _hour(files[-1][0])
        previous: Written | None = None
        previous_sha = None
        i = 0
        while start <= last:
            end = start + HOUR
            listed = []
            while i < len(files) and files[i][0] < end:
                listed.append(files[i])
                i += 1
            name = (
                f"{account}_CloudTrail-Digest_{region}_{trail}_{home}_{end:%Y%m%dT%H%M%SZ}.json.gz"
            )
            path = digest_folder / f"{end:%Y}" / f"{end:%m}" / f"{end:%d}" / name
            key = prefix + digests.tail(str(path))
            s = key_at(end)
            content = {
                "awsAccountId": account,
                "digestStartTime": digests.iso(start),
                "digestEndTime": digests.iso(end),
                "digestS3Bucket": bucket,
                "digestS3Object": key,
                "digestPublicKeyFingerprint": s.fingerprint,
                "digestSignatureAlgorithm": digests.ALGORITHM,
                "newestEventTime": digests.iso(listed[-1][0]) if listed else None,
                "oldestEventTime": digests.iso(listed[0][0]) if listed else None,
                "previousDigestS3Bucket": bucket if previous else None,
                "previousDigestS3Object": previous.key if previous else None,
                "previousDigestHashValue": previous_sha,
                "previousDigestHashAlgorithm": "SHA-256" if previous else None,
                "previousDigestSignature": previous.signature if previous else None,
                "logFiles": [
                    {
                        "s3Bucket": bucket,
                        "s3Object": prefix + digests.tail(str(p)),
                        "hashValue": hashlib.sha256(
                            digests.first_member(p.read_bytes())[0]
                        ).hexdigest(),
                        "hashAlgorithm": "SHA-256",
                        "newestEventTime": digests.iso(when),
                        "oldestEventTime": digests.iso(when),
                    }
                    for when, p in listed
                ],
            }
            text = json.dumps(content, separators=(",", ":")).encode()
            sha = hashlib.sha256(text).hexdigest()
            message = digests.string_to_sign(
                digests.iso(end),
                bucket,
                key,
                sha,
                previous.signature if previous else None,
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(text, mtime=0))
            previous = Written(path, key, digests.sign(s.key, message), end)
            previous_sha = sha
            written.append(previous)
            start = end
    return written

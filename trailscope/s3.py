"""Reading CloudTrail straight from S3: list a bucket pruned by the key layout, download the objects.

`discover_s3` lists a bucket the way `sources.discover` walks a folder, with the same decisions
(`sources.layout_of` and `Filters.keeps`): the filters become key prefixes before anything is
listed. Account and region folders are named directly, a date filter becomes a key range inside
each region folder (StartAfter, and no page past the last day), so a question about one account
and one week never lists or downloads the rest of an organization trail.

`fetch` downloads objects in worker threads, a bounded number and size ahead of the reader, and
yields them in order. A failure that concerns one object (access denied, archived, deleted or
changed since it was listed, still throttled after the retries) comes back as the reason for that
object; one that would hit every object (no bucket, no or expired credentials, no connection,
wrong region) raises BadSource.

boto3 is imported inside the functions, so `import trailscope.cli` stays light.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from trailscope import __version__
from trailscope.errors import BadSource
from trailscope.sources import NOT_EVENT_FOLDERS, Candidate, Filters, layout_of

if TYPE_CHECKING:
    from boto3.session import Session
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import (
        GetObjectRequestTypeDef,
        ListObjectsV2OutputTypeDef,
        ListObjectsV2RequestTypeDef,
    )

__all__ = [
    "S3Stats",
    "day_window",
    "discover_s3",
    "fetch",
    "fetch_with_metadata",
    "is_s3",
    "list_public_keys",
    "split_url",
]

# botocore's "standard" retry mode: jittered exponential backoff (at most 20 s a wait) on
# throttling (SlowDown, 503), 500/502/504, timeouts and dropped connections, this many attempts
# in all, within a client-wide retry quota.
MAX_ATTEMPTS = 6
READ_ATTEMPTS = 3  # a body cut off mid-download: botocore retries only until the headers arrive
LIST_WORKERS = 8  # ListObjectsV2 calls in flight while discovering
PAGE_KEYS = 1000  # keys a ListObjectsV2 call asks for (S3's own maximum)
LIST_AHEAD = 16  # listings started ahead of the consumer, per folder level
FETCH_AHEAD_BYTES = 256 * 2**20  # object bytes downloaded ahead of the consumer, at most

_T = TypeVar("_T")
_R = TypeVar("_R")

# Error codes S3 (and S3-compatible stores) answer with, by what they mean for a responder.
_CREDENTIALS = {
    "ExpiredToken",
    "ExpiredTokenException",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}
_DENIED = {"AccessDenied", "403", "AllAccessDisabled", "AccountProblem", "InvalidPayer"}
_REGION = {
    "PermanentRedirect",
    "AuthorizationHeaderMalformed",
    "301",
    "IllegalLocationConstraintException",
}
_THROTTLED = {
    "SlowDown",
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "ServiceUnavailable",
    "503",
}
_GONE = {"NoSuchKey", "404", "NotFound"}
_CHANGED = {"PreconditionFailed", "412"}


def is_s3(source: str) -> bool:
    """True for an s3:// URL."""
    return source[:5].lower() == "s3://"


def split_url(url: str) -> tuple[str, str]:
    """s3://bucket/key/prefix -> (bucket, key/prefix)."""
    if not is_s3(url):
        raise BadSource(f"not an s3:// URL: {url!r}")
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        raise BadSource(f"no bucket in {url!r}: write s3://BUCKET/PREFIX")
    return bucket, key


@dataclass
class S3Stats:
    """What was asked of S3: for tests, and for progress lines.

    `requests` counts HTTP requests by operation, retries included (a botocore event hook);
    `listed` is the Prefix of every ListObjectsV2 call and `fetched` the key of every GetObject
    call, in the order they were made."""

    requests: Counter[str] = field(default_factory=Counter)
    listed: list[str] = field(default_factory=list)
    fetched: list[str] = field(default_factory=list)
    bytes_fetched: int = 0
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    def _sent(self, event_name: str = "", **_: Any) -> None:
        with self._lock:
            self.requests[event_name.rsplit(".", 1)[-1]] += 1

    def _listed(self, prefix: str) -> None:
        with self._lock:
            self.listed.append(prefix)

    def _fetched(self, key: str) -> None:
        with self._lock:
            self.fetched.append(key)

    def _got(self, size: int) -> None:
        with self._lock:
            self.bytes_fetched += size


# ---------------------------------------------------------------------------------------------
# the client and its errors


@dataclass(frozen=True)
class _Where:
    """What a message needs to say where things went wrong."""

    endpoint: str
    region: str | None
    profile: str | None


_SESSIONS: dict[tuple[object, ...], Session] = {}
_SESSIONS_LOCK = threading.Lock()  # boto3 sessions are not thread-safe; their clients are


def _client(
    profile: str | None,
    endpoint_url: str | None,
    region: str | None,
    pool: int,
    stats: S3Stats | None,
) -> tuple[S3Client, _Where]:
    """An S3 client from the standard credential chain (environment, profiles, SSO, container
    and instance roles), or the named profile.

    Sessions are kept per profile, region and AWS_* environment, so that discovery and fetch
    resolve credentials once: an assume-role profile with MFA asks for its code once a run."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    # path-style addressing is what S3-compatible stores all understand
    path_style = bool(endpoint_url) and "amazonaws.com" not in (endpoint_url or "")
    config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        max_pool_connections=pool + 2,
        connect_timeout=10,
        read_timeout=60,
        user_agent_extra=f"trailscope/{__version__}",
        s3={"addressing_style": "path"} if path_style else None,
    )
    with _SESSIONS_LOCK:
        try:
            session = _SESSIONS.get((profile, region, env))
            if session is None:
                session = boto3.session.Session(profile_name=profile, region_name=region)
                _SESSIONS[(profile, region, env)] = session
            client = session.client("s3", endpoint_url=endpoint_url, config=config)
        except ProfileNotFound:
            raise BadSource(
                f"no AWS profile named {profile!r} (see `aws configure "
                f"list-profiles`; profiles live in ~/.aws/config and "
                f"~/.aws/credentials)"
            ) from None
        except ValueError as e:  # botocore's word for a malformed endpoint URL
            raise BadSource(f"not a usable endpoint URL: {endpoint_url!r} ({e})") from e
        except BotoCoreError as e:
            raise BadSource(f"cannot set up the S3 client: {e}") from e
    if stats is not None:
        client.meta.events.register("before-send.s3", stats._sent)
    where = _Where(client.meta.endpoint_url, client.meta.region_name, profile)
    return client, where


def _explain(e: Exception, what: str, where: _Where, *, listing: bool) -> tuple[bool, str]:
    """(fatal, message) for an exception from S3 while listing or reading `what` (an s3:// URL).

    Fatal problems would hit every object, so they stop the run; the others concern one
    object, which is then rejected with the message as its reason."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        CredentialRetrievalError,
        HTTPClientError,
        NoCredentialsError,
        ParamValidationError,
        PartialCredentialsError,
        SSOError,
        TokenRetrievalError,
    )

    doing = "listing " if listing else ""
    profile = f" --profile {where.profile}" if where.profile else ""
    if isinstance(e, ClientError):
        error = e.response.get("Error", {})
        code = str(error.get("Code", "")) or "unknown"
        message = str(error.get("Message", "")).strip()
        if code == "NoSuchBucket":
            bucket = split_url(what)[0]
            return True, (
                f"no such bucket: {bucket} (at {where.endpoint}): check the name; a "
                f"trail's bucket is shown by `aws cloudtrail describe-trails`"
            )
        if code in _CREDENTIALS:
            return True, (
                f"AWS credentials rejected ({code}) while {doing or 'reading '}{what}: "
                f"they have expired or are wrong; refresh them (`aws sso login"
                f"{profile}`, a new session, or another --profile) and run ingest "
                f"again: what was already stored is kept"
            )
        if code == "RequestTimeTooSkewed":
            return True, (
                "this machine's clock is more than 15 minutes off, so S3 refuses "
                "the requests: set the clock (NTP) and run ingest again"
            )
        if code in _REGION:
            headers = e.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            actual = headers.get("x-amz-bucket-region") or str(error.get("Region", "")) or None
            hint = (
                f"it is in {actual}: use --region {actual} or AWS_REGION={actual}"
                if actual
                else "set --region or AWS_REGION to the bucket's region"
            )
            return True, (f"the bucket of {what} is not in region {where.region} ({code}): {hint}")
        if code.startswith("KMS.") or (code in _DENIED and "kms" in message.lower()):
            return listing, (
                f"cannot decrypt: {what} (SSE-KMS: the caller needs kms:Decrypt on "
                f"the trail's key; {code}: {message or 'no detail'})"
            )
        if code in _DENIED:
            if listing:
                return True, (
                    f"access denied {doing}{what}: the credentials in use need "
                    f"s3:ListBucket on that bucket and prefix"
                )
            return False, (
                f"access denied: {what} (the caller needs s3:GetObject, and "
                f"kms:Decrypt if the trail uses SSE-KMS)"
            )
        if code in _GONE:
            return listing, f"gone: {what} was deleted after it was listed"
        if code == "InvalidObjectState":
            return listing, (
                f"archived: {what} is in an archive storage class (Glacier or "
                f"Deep Archive); restore it, then run ingest again"
            )
        if code in _CHANGED:
            return listing, f"changed since it was listed: {what}; run ingest again"
        if code in _THROTTLED:
            return listing, (
                f"S3 still throttling ({code}) after {MAX_ATTEMPTS} attempts: "
                f"{doing}{what}; run ingest again later"
            )
        return listing, f"S3 error {code}{': ' + message if message else ''}: {doing}{what}"
    if isinstance(e, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
        return True, (
            f"no usable AWS credentials ({e}): pass --profile, set AWS_PROFILE, run "
            f"`aws sso login{profile}`, or set AWS_ACCESS_KEY_ID and "
            f"AWS_SECRET_ACCESS_KEY"
        )
    if isinstance(e, SSOError | TokenRetrievalError):
        return True, f"the AWS SSO session has expired or is missing: run `aws sso login{profile}`"
    if isinstance(e, ParamValidationError):
        return True, f"S3 refused the request for {what}: {e}"
    if isinstance(e, ConnectionError):  # refused, unreachable, DNS, proxy, TLS: after retries
        return True, (
            f"cannot connect to S3 at {where.endpoint} while {doing or 'reading '}"
            f"{what}: {e} (check --endpoint-url, the network and any proxy)"
        )
    if isinstance(e, HTTPClientError):  # timed out or cut off after the retries
        return listing, f"S3 connection failed after {MAX_ATTEMPTS} attempts: {doing}{what}: {e}"
    return True, f"S3 request failed while {doing or 'reading '}{what}: {e}"


# ---------------------------------------------------------------------------------------------
# listing


@dataclass(frozen=True)
class _Listing:
    """One folder to list. `walk`: one level (Delimiter='/'), its sub-folders decided one by one;
    otherwise every key below it. `start_after`/`stop_at` bound a dated listing to a key range."""

    prefix: str
    walk: bool
    start_after: str = ""
    stop_at: str = ""  # keys from this one on are past the range: stop listing
    must_exist: bool = False  # the folder the user named: nothing at all there is an error


@dataclass
class _Page:
    entries: list[Candidate | _Listing]
    token: str | None


def _ordered(
    pool: ThreadPoolExecutor, items: Iterable[_T], fn: Callable[[_T], _R], ahead: int
) -> Iterator[_R]:
    """fn over items in the pool, at most `ahead` started before their result is taken, in order."""
    pending: deque[Future[_R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for fut in pending:
            fut.cancel()


def _day(layout_day: dt.date) -> dict[str, str]:
    return {"year": f"{layout_day:%Y}", "month": f"{layout_day:%m}", "day": f"{layout_day:%d}"}


def day_window(filters: Filters) -> tuple[dt.date | None, dt.date | None]:
    """The first and last day folder `Filters.keeps` keeps (None: unbounded), found by asking it,
    so that the key range listed is exactly what a local walk would keep."""
    first = last = None
    if filters.since is not None:
        first = filters.since.date() - dt.timedelta(days=7)
        while first <= filters.since.date() + dt.timedelta(days=7) and not filters.keeps(
            _day(first)
        ):
            first += dt.timedelta(days=1)
    if filters.until is not None:
        last = filters.until.date() + dt.timedelta(days=7)
        while last >= filters.until.date() - dt.timedelta(days=7) and not filters.keeps(_day(last)):
            last -= dt.timedelta(days=1)
    return first, last


class _Lister:
    """Discovery of one bucket: plans which folders to list, lists them in a thread pool and
    yields the objects in key order."""

    def __init__(
        self,
        client: S3Client,
        where: _Where,
        bucket: str,
        filters: Filters,
        pool: ThreadPoolExecutor,
        stats: S3Stats | None,
    ) -> None:
        self.client, self.where, self.bucket = client, where, bucket
        self.filters, self.pool, self.stats = filters, pool, stats
        self.dated = filters.since is not None or filters.until is not None
        self.first_day, self.last_day = day_window(filters)

    def url(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    # planning: from a folder's place in the key layout to the listings it needs
    def plan(self, prefix: str) -> list[_Listing]:
        """The listings that cover folder `prefix` (which ends with '/', or is '' for the whole
        bucket), pruned: none when the filters rule the folder out; its account or region
        sub-folders named directly when the filters name them."""
        f = self.filters
        parts = prefix.rstrip("/").split("/") if prefix else []
        layout = layout_of(parts)
        if not f.keeps(layout):
            return []
        if not (f.accounts or f.regions or self.dated):
            return [_Listing(prefix, walk=False)]  # nothing to prune: every key, 1,000 a call
        if "AWSLogs" not in parts:
            return [_Listing(prefix, walk=True)]  # look for AWSLogs/ below
        below = parts[::-1].index("AWSLogs")  # folders below the last AWSLogs
        if len(layout) != below:  # the layout stops here: nothing below can be pruned
            return [_Listing(prefix, walk=False)]
        deepest = list(layout)[-1] if layout else "AWSLogs"
        if deepest in ("AWSLogs", "org"):
            if f.accounts and deepest == "org":  # AWSLogs/ itself may hold org folders too
                return [c for a in sorted(f.accounts) for c in self.plan(f"{prefix}{a}/")]
            return [_Listing(prefix, walk=True)]
        if deepest == "account":  # CloudTrail/, CloudTrail-Digest/, CloudTrail-Insight/ ...
            return [_Listing(prefix, walk=bool(f.regions) or self.dated)]
        if deepest == "service":
            if f.regions:
                return [c for r in sorted(f.regions) for c in self.plan(f"{prefix}{r}/")]
            return [_Listing(prefix, walk=self.dated)]
        if not self.dated or deepest == "day":
            return [_Listing(prefix, walk=False)]
        # region, year or month folder under a date filter: one key range, YYYY/MM/DD/ sorting
        # as dates do, from the first day kept to the last (the days Filters.keeps keeps)
        dated_parts = sum(k in layout for k in ("year", "month", "day"))
        region = "/".join(parts[: len(parts) - dated_parts]) + "/"
        start = f"{region}{self.first_day:%Y/%m/%d}" if self.first_day else ""
        stop = f"{region}{self.last_day:%Y/%m/%d}0" if self.last_day else ""  # '0' sorts after '/'
        if start and stop and start >= stop:
            return []
        return [_Listing(prefix, walk=False, start_after=start, stop_at=stop)]

    # listing
    def page(self, listing: _Listing, token: str | None = None) -> _Page:
        """One ListObjectsV2 call: its objects as candidates, its sub-folders as listings."""
        request: ListObjectsV2RequestTypeDef = {
            "Bucket": self.bucket,
            "Prefix": listing.prefix,
            "MaxKeys": PAGE_KEYS,
        }
        if listing.walk:
            request["Delimiter"] = "/"
        if token:
            request["ContinuationToken"] = token
        elif listing.start_after:
            request["StartAfter"] = listing.start_after
        if self.stats is not None:
            self.stats._listed(listing.prefix)
        try:
            response = self.client.list_objects_v2(**request)
        except Exception as e:  # botocore raises many kinds: all are explained
            raise BadSource(
                _explain(e, self.url(listing.prefix), self.where, listing=True)[1]
            ) from e
        return self._entries(listing, response, first=token is None)

    def _entries(
        self, listing: _Listing, response: ListObjectsV2OutputTypeDef, *, first: bool
    ) -> _Page:
        contents = response.get("Contents", [])
        folders = response.get("CommonPrefixes", [])
        if first and listing.must_exist and not contents and not folders:
            what = (
                f"bucket {self.bucket} is empty"
                if not listing.prefix
                else f"nothing in {self.url(listing.prefix)}: no key starts with that prefix"
            )
            raise BadSource(
                f"{what} (CloudTrail keys look like "
                f"[prefix/]AWSLogs/[o-org/]<account>/CloudTrail/<region>/YYYY/MM/DD/)"
            )
        keyed: list[tuple[str, Candidate | _Listing]] = []
        token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
        for obj in contents:
            key = obj.get("Key", "")
            if listing.stop_at and key >= listing.stop_at:
                token = None  # past the last day: no more pages
                break
            candidate = self._candidate(
                key, obj.get("Size", 0), obj.get("LastModified"), obj.get("ETag")
            )
            if candidate is not None:
                keyed.append((key, candidate))
        for folder in folders:
            sub = folder.get("Prefix", "")
            keyed += [(sub, child) for child in self.plan(sub)]
        keyed.sort(key=lambda pair: pair[0])  # a folder "a/" sorts where its keys do
        return _Page([entry for _, entry in keyed], token)

    def _candidate(
        self,
        key: str,
        size: int,
        modified: dt.datetime | None,
        etag: str | None,
        *,
        explicit: bool = False,
    ) -> Candidate | None:
        if key.endswith("/"):
            return None  # a "folder" placeholder object from the console
        parts = key.split("/")
        if not explicit and not self.filters.keeps(layout_of(parts[:-1])):
            return None
        mtime = modified.timestamp() if modified is not None else 0.0
        cand = Candidate(self.url(key), size, mtime, etag=etag.strip('"') if etag else None)
        for folder, why in NOT_EVENT_FOLDERS.items():
            if folder in parts:
                return Candidate(cand.path, size, mtime, cand.etag, skip=why)
        if not explicit and parts[-1].startswith("."):
            return Candidate(cand.path, size, mtime, cand.etag, skip="hidden file")
        return cand

    def emit(self, listings: list[_Listing]) -> Iterator[Candidate]:
        """The candidates under the listings, in key order; the listings run in the pool, a
        bounded number ahead, each folder's next page fetched while this one is consumed."""
        for listing, page in zip(
            listings, _ordered(self.pool, listings, self.page, LIST_AHEAD), strict=True
        ):
            while True:
                following = self.pool.submit(self.page, listing, page.token) if page.token else None
                try:
                    folders: list[_Listing] = []
                    for entry in page.entries:
                        if isinstance(entry, _Listing):
                            folders.append(entry)
                            continue
                        if folders:
                            yield from self.emit(folders)
                            folders = []
                        yield entry
                    if folders:
                        yield from self.emit(folders)
                except BaseException:  # closed by the consumer, or a failed listing below
                    if following is not None:
                        following.cancel()
                    raise
                if following is None:
                    break
                page = following.result()

    def named(self, key: str) -> Iterator[Candidate]:
        """s3://bucket/key without a trailing slash: the object of that name, the folder of that
        name, or both; an error if neither."""
        found_object: Candidate | None = None
        found_folder = False
        token: str | None = None
        while True:
            request: ListObjectsV2RequestTypeDef = {
                "Bucket": self.bucket,
                "Prefix": key,
                "Delimiter": "/",
                "MaxKeys": PAGE_KEYS,
            }
            if token:
                request["ContinuationToken"] = token
            if self.stats is not None:
                self.stats._listed(key)
            try:
                response = self.client.list_objects_v2(**request)
            except Exception as e:  # explained, as in page()
                raise BadSource(_explain(e, self.url(key), self.where, listing=True)[1]) from e
            for obj in response.get("Contents", []):
                if obj.get("Key") == key:
                    found_object = self._candidate(
                        key,
                        obj.get("Size", 0),
                        obj.get("LastModified"),
                        obj.get("ETag"),
                        explicit=True,
                    )
            found_folder |= any(
                p.get("Prefix") == key + "/" for p in response.get("CommonPrefixes", [])
            )
            token = response.get("NextContinuationToken") if response.get("IsTruncated") else None
            if token is None or (found_object and found_folder):
                break
        if found_object is None and not found_folder:
            raise BadSource(
                f"nothing at {self.url(key)}: no object of that name and no folder below it"
            )
        if found_object is not None:
            yield found_object
        if found_folder:
            yield from self.emit(self.plan(key + "/"))


def discover_s3(
    url: str,
    filters: Filters,
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    stats: S3Stats | None = None,
) -> Iterator[Candidate]:
    """Every object under s3://bucket/prefix, in key order, pruned by the filters before listing.

    Objects under CloudTrail-Digest/ and CloudTrail-Insight/ are listed (with the same pruning)
    and yielded with `skip` set to their reason in `sources.NOT_EVENT_FOLDERS`, as local
    discovery does, so the manifest shows them. `mtime` is LastModified (epoch seconds) and
    `etag` the ETag without quotes. Raises BadSource when the bucket cannot be listed at all."""
    bucket, key = split_url(url)
    client, where = _client(profile, endpoint_url, region, LIST_WORKERS, stats)
    pool = ThreadPoolExecutor(max_workers=LIST_WORKERS, thread_name_prefix="trailscope-list")
    try:
        lister = _Lister(client, where, bucket, filters, pool, stats)
        if key and not key.endswith("/"):
            yield from lister.named(key)
            return
        planned = lister.plan(key)
        if len(planned) == 1 and planned[0].prefix == key and not planned[0].start_after:
            planned = [_Listing(key, planned[0].walk, must_exist=True)]
        yield from lister.emit(planned)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# downloading


def _get(
    client: S3Client, where: _Where, cand: Candidate, stats: S3Stats | None
) -> tuple[bytes | None, dict[str, str], str | None]:
    """Runs in a worker thread: one object's bytes and user metadata (x-amz-meta-*, by name
    without the prefix), or why not. Raises BadSource for a problem that would stop every other
    download too."""
    from botocore.exceptions import (
        ConnectionClosedError,
        FlexibleChecksumError,
        IncompleteReadError,
        ReadTimeoutError,
        ResponseStreamingError,
    )
    from urllib3.exceptions import HTTPError as Urllib3Error

    bucket, key = split_url(cand.path)
    request: GetObjectRequestTypeDef = {"Bucket": bucket, "Key": key}
    if cand.etag:
        request["IfMatch"] = f'"{cand.etag}"'  # the bytes of the version listed, or an error
    for attempt in range(1, READ_ATTEMPTS + 1):
        if stats is not None:
            stats._fetched(key)
        try:
            response = client.get_object(**request)
            metadata = dict(response.get("Metadata", {}))
            body = response["Body"]
            try:
                data: bytes = body.read()  # checks the length against Content-Length
            finally:
                body.close()
        except (
            ResponseStreamingError,
            IncompleteReadError,
            ReadTimeoutError,
            ConnectionClosedError,
            FlexibleChecksumError,
            Urllib3Error,
        ) as e:
            if attempt == READ_ATTEMPTS:
                return (
                    None,
                    {},
                    f"download cut off {READ_ATTEMPTS} times: {cand.path} ({e}); run ingest again",
                )
            time.sleep(0.5 * 2 ** (attempt - 1))
            continue
        except Exception as e:  # botocore raises many kinds: all are explained
            fatal, message = _explain(e, cand.path, where, listing=False)
            if fatal:
                raise BadSource(message) from e
            return None, {}, message
        if stats is not None:
            stats._got(len(data))
        return data, metadata, None
    raise AssertionError("unreachable")  # pragma: no cover


def fetch(
    candidates: Iterable[Candidate],
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    workers: int = 8,
    ahead_bytes: int = FETCH_AHEAD_BYTES,
    stats: S3Stats | None = None,
) -> Iterator[tuple[Candidate, bytes | None, str | None]]:
    """Download s3:// candidates in `workers` threads and yield (candidate, bytes, None) or
    (candidate, None, reason) for each, in the order given.

    At most 2 x workers objects, and about `ahead_bytes` of them by their listed size, are in
    flight or waiting for the consumer; the next ones start as the consumer takes these.
    Candidates with `skip` set, and paths that are not s3:// URLs (local files, for the caller
    to open), pass through in their place as (candidate, None, None) without a request.
    A problem every object would share (missing bucket, expired credentials, no connection)
    raises BadSource naming the object where it was met."""
    objects = fetch_with_metadata(
        candidates,
        profile=profile,
        endpoint_url=endpoint_url,
        region=region,
        workers=workers,
        ahead_bytes=ahead_bytes,
        stats=stats,
        include_skipped=False,
    )
    with closing(objects):  # closed early by the consumer: the downloads stop at once
        for cand, data, _metadata, reason in objects:
            yield cand, data, reason


def fetch_with_metadata(
    candidates: Iterable[Candidate],
    *,
    profile: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
    workers: int = 8,
    ahead_bytes: int = FETCH_AHEAD_BYTES,
    stats: S3Stats | None = None,
    include_skipped: bool = True,
) -> Generator[tuple[Candidate, bytes | None, dict[str, str], str | None]]:
    """As `fetch`, each object with its user metadata (the x-amz-meta-* headers, by name
    without the prefix, as S3 keeps them: lower case), which is where a CloudTrail digest's
    own signature lives. With `include_skipped` (the default) candidates with `skip` set are
    downloaded too: discovery marks digest files skipped, as ingest reads no events from them."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    client: S3Client | None = None
    where: _Where | None = None
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="trailscope-s3")
    pending: deque[
        tuple[Candidate, Future[tuple[bytes | None, dict[str, str], str | None]] | None]
    ] = deque()
    in_flight = 0

    def take() -> tuple[Candidate, bytes | None, dict[str, str], str | None]:
        nonlocal in_flight
        cand, fut = pending.popleft()
        if fut is None:
            return cand, None, {}, None
        in_flight -= cand.size
        data, metadata, reason = fut.result()
        return cand, data, metadata, reason

    try:
        for cand in candidates:
            if (cand.skip and not include_skipped) or not is_s3(cand.path):
                pending.append((cand, None))
            else:
                if client is None or where is None:
                    client, where = _client(profile, endpoint_url, region, workers, stats)
                pending.append((cand, pool.submit(_get, client, where, cand, stats)))
                in_flight += cand.size
            while pending and (len(pending) >= 2 * workers or in_flight >= ahead_bytes):
                yield take()
        while pending:
            yield take()
    finally:
        for _, fut in pending:
            if fut is not None:
                fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)


# ---------------------------------------------------------------------------------------------
# CloudTrail's public keys


def list_public_keys(
    region: str, start: dt.datetime, end: dt.datetime, *, profile: str | None = None
) -> list[dict[str, Any]]:
    """CloudTrail's ListPublicKeys in `region` over [start, end], every page: the keys whose
    private halves signed digests then, each with Value (DER bytes), ValidityStartTime,
    ValidityEndTime and Fingerprint. Credentials come as for S3 (the standard chain, or the
    profile); the caller needs cloudtrail:ListPublicKeys."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        user_agent_extra=f"trailscope/{__version__}",
    )
    try:
        with _SESSIONS_LOCK:  # boto3 sessions are not thread-safe
            session = boto3.session.Session(profile_name=profile, region_name=region)
        client = session.client("cloudtrail", region_name=region, config=config)
        keys: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            page = client.list_public_keys(
                StartTime=start, EndTime=end, **({"NextToken": token} if token else {})
            )
            keys += [dict(k) for k in page.get("PublicKeyList", [])]
            token = page.get("NextToken")
            if not token:
                return keys
    except Exception as e:  # credentials, permissions, network: botocore raises many kinds
        raise BadSource(
            f"cannot fetch CloudTrail's public keys in {region} (ListPublicKeys): {e}; give "
            "them with --public-keys FILE instead (what `aws cloudtrail list-public-keys "
            f"--region {region}` prints)"
        ) from e

"""The tables of a trailscope database: one list of columns that makes the DDL, the JSON
extraction and the documentation, so the three cannot drift apart."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

# No event is older than CloudTrail: "This release introduces AWS CloudTrail", November 13,
# 2013 (AWS CloudTrail User Guide, Document history). Nor is one from the future: a record is
# written after its call, and delivered within minutes; a day after the ingest ran leaves room
# for any clock skew or time-zone slip. Ingest rejects an eventTime outside this window.
CLOUDTRAIL_BEGAN = dt.datetime(2013, 11, 13, tzinfo=dt.UTC)
FUTURE_SLACK = dt.timedelta(days=1)
# The cap on one file's size once inflated. CloudTrail's delivery files reach tens of MB (one
# account and region, about five minutes). A file is held in memory whole while it is read,
# so the cap bounds what one file can take (a 4 MB gzip bomb inflating to 4 GiB stops at it);
# 1 GiB is well above any real delivery file, leaves room for exports that gather more into
# one file, and still fits a responder's laptop. Ingest's --max-file-size changes it.
MAX_FILE_SIZE = 2**30


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    source: str  # where the value comes from: a JSON path in the record, or how it is made
    doc: str

    @property
    def path(self) -> tuple[str, ...]:
        """The record path for columns taken straight from a CloudTrail field."""
        return tuple(self.source.split(".")) if not self.source.startswith("(") else ()

    @property
    def computed(self) -> bool:
        """A JSON part of the record, read from `record` when queried (see ddl)."""
        return self.type == "JSON" and bool(self.path)

    @property
    def stored(self) -> bool:
        return not self.computed


def _c(name: str, type_: str, source: str, doc: str) -> Column:
    return Column(name, type_, source, doc)


# One row per distinct eventID. Typed columns for what analyses filter and join on; the
# variable parts as JSON (computed from `record`); `record` holds the whole record as it was
# read, so no field is lost.
EVENT_COLUMNS: tuple[Column, ...] = (
    _c(
        "event_id",
        "VARCHAR",
        "eventID",
        "Unique event GUID; the deduplication key (a record without one, or with an empty one, "
        "is rejected).",
    ),
    _c(
        "event_time",
        "TIMESTAMPTZ",
        "eventTime",
        "When the request was made, UTC. Logstash "
        "exports without eventTime fall back to `@timestamp` (see files.note). A record whose "
        "eventTime is before CloudTrail began (2013-11-13) or more than a day after the ingest "
        "ran is rejected, saying which.",
    ),
    _c("event_version", "VARCHAR", "eventVersion", "Record format version (1.08, 1.09, ...)."),
    _c("event_source", "VARCHAR", "eventSource", "Service endpoint, e.g. sts.amazonaws.com."),
    _c("event_name", "VARCHAR", "eventName", "API action or event, e.g. AssumeRoot."),
    _c("aws_region", "VARCHAR", "awsRegion", "Region the request was made to."),
    _c("recipient_account_id", "VARCHAR", "recipientAccountId", "Account that received the event."),
    _c("read_only", "BOOLEAN", "readOnly", "Whether the call only reads."),
    _c(
        "management_event", "BOOLEAN", "managementEvent", "Management (true) or data (false) event."
    ),
    _c("event_type", "VARCHAR", "eventType", "AwsApiCall, AwsServiceEvent, AwsConsoleSignIn, ..."),
    _c("event_category", "VARCHAR", "eventCategory", "Management, Data, Insight, NetworkActivity."),
    _c(
        "error_code",
        "VARCHAR",
        "errorCode",
        "Error of a failed call (AccessDenied, ...); NULL if it succeeded.",
    ),
    _c("error_message", "VARCHAR", "errorMessage", "Error text of a failed call."),
    _c("source_ip", "VARCHAR", "sourceIPAddress", "Caller IP, or a service name / `AWS Internal`."),
    _c("user_agent", "VARCHAR", "userAgent", "Caller's user agent (attacker-controlled text)."),
    _c("request_id", "VARCHAR", "requestID", "Service request ID."),
    _c(
        "shared_event_id",
        "VARCHAR",
        "sharedEventID",
        "Same value in every account's copy of a cross-account event.",
    ),
    _c("vpc_endpoint_id", "VARCHAR", "vpcEndpointId", "VPC endpoint the call came through."),
    _c(
        "session_credential_from_console",
        "BOOLEAN",
        "sessionCredentialFromConsole",
        "The credentials came from a console session.",
    ),
    _c(
        "identity_type",
        "VARCHAR",
        "userIdentity.type",
        "Root, IAMUser, AssumedRole, AWSService, "
        "FederatedUser, AWSAccount, IdentityCenterUser, Unknown; NULL when the record has none.",
    ),
    _c("principal_id", "VARCHAR", "userIdentity.principalId", "Unique ID of the caller."),
    _c("identity_arn", "VARCHAR", "userIdentity.arn", "ARN of the caller."),
    _c(
        "identity_account_id",
        "VARCHAR",
        "userIdentity.accountId",
        "Account that owns the caller's credentials.",
    ),
    _c(
        "access_key_id",
        "VARCHAR",
        "userIdentity.accessKeyId",
        "Access key used (AKIA long-term, ASIA temporary); empty for console sessions.",
    ),
    _c("user_name", "VARCHAR", "userIdentity.userName", "Friendly name of the caller."),
    _c(
        "invoked_by",
        "VARCHAR",
        "userIdentity.invokedBy",
        "Service that made the call for the caller.",
    ),
    _c(
        "session_issuer_type",
        "VARCHAR",
        "userIdentity.sessionContext.sessionIssuer.type",
        "Role, IAMUser or Root that issued the temporary credentials.",
    ),
    _c(
        "session_issuer_arn",
        "VARCHAR",
        "userIdentity.sessionContext.sessionIssuer.arn",
        "ARN of the session issuer (the role, for an assumed role).",
    ),
    _c(
        "session_issuer_account_id",
        "VARCHAR",
        "userIdentity.sessionContext.sessionIssuer.accountId",
        "Account of the session issuer.",
    ),
    _c(
        "session_issuer_user_name",
        "VARCHAR",
        "userIdentity.sessionContext.sessionIssuer.userName",
        "Name of the session issuer.",
    ),
    _c(
        "session_created_at",
        "TIMESTAMPTZ",
        "userIdentity.sessionContext.attributes.creationDate",
        "When the temporary credentials were issued (NULL when not a time, or outside the "
        "window event_time must be in).",
    ),
    _c(
        "mfa_authenticated",
        "BOOLEAN",
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
        "Session was authenticated with MFA.",
    ),
    _c(
        "assumed_root",
        "BOOLEAN",
        "userIdentity.sessionContext.assumedRoot",
        "The identity is a "
        "short-term root session from sts:AssumeRoot (also set on the caller of AssumeRoot in "
        "AWS's published example: tell them apart by event_name and identity_type).",
    ),
    _c(
        "source_identity",
        "VARCHAR",
        "userIdentity.sessionContext.sourceIdentity",
        "Source identity carried through role sessions.",
    ),
    _c(
        "credential_id",
        "VARCHAR",
        "userIdentity.credentialId",
        "ID of the credential (e.g. Identity Center or service-specific credentials).",
    ),
    _c(
        "in_scope_of",
        "JSON",
        "userIdentity.inScopeOf",
        "For service-issued credentials: the issuer and scope.",
    ),
    _c(
        "on_behalf_of",
        "JSON",
        "userIdentity.onBehalfOf",
        "For Identity Center users: user ID and identity store.",
    ),
    _c("request_parameters", "JSON", "requestParameters", "Request parameters as sent."),
    _c("response_elements", "JSON", "responseElements", "Response elements of write calls."),
    _c(
        "additional_event_data",
        "JSON",
        "additionalEventData",
        "Extra data, e.g. MFAUsed on ConsoleLogin.",
    ),
    _c("resources", "JSON", "resources", "Resources the call touched (list)."),
    _c("tls_details", "JSON", "tlsDetails", "TLS version, cipher and host header."),
    _c(
        "service_event_details",
        "JSON",
        "serviceEventDetails",
        "Details of AwsServiceEvent records.",
    ),
    _c(
        "record",
        "JSON",
        "(the whole record)",
        "The record exactly as read (for LookupEvents "
        "output, the inner CloudTrailEvent): every field, known or not, stays queryable with "
        "DuckDB's JSON functions, e.g. `record->>'$.newField'`.",
    ),
)

SOURCE_COLUMNS: tuple[Column, ...] = (
    _c("event_id", "VARCHAR", "(eventID)", "The event."),
    _c("file_id", "INTEGER", "(files.file_id)", "A file it was read from."),
    _c(
        "position",
        "INTEGER",
        "(reader)",
        "1-based place of the record in that file: element "
        "of the Records/array, line of a JSON-lines file, row of a Parquet file.",
    ),
)

FILE_COLUMNS: tuple[Column, ...] = (
    _c("file_id", "INTEGER", "(reader)", "Identifier used by event_sources and rejected."),
    _c("path", "VARCHAR", "(reader)", "Absolute path or s3:// URL of the file."),
    _c("size", "BIGINT", "(reader)", "Size in bytes as stored (compressed size for .gz)."),
    _c("mtime", "DOUBLE", "(reader)", "Modification time, seconds since the epoch."),
    _c("etag", "VARCHAR", "(reader)", "S3 ETag, for objects read from S3."),
    _c("sha256", "VARCHAR", "(reader)", "SHA-256 of the bytes as stored."),
    _c(
        "format",
        "VARCHAR",
        "(reader)",
        "records, array, object, jsonl, lookup-events, parquet, or what it was skipped as.",
    ),
    _c(
        "status",
        "VARCHAR",
        "(reader)",
        "ingested, empty, rejected (unreadable as a whole), or skipped (not a log file: see note).",
    ),
    _c("records", "INTEGER", "(reader)", "Records found in the file."),
    _c("stored", "INTEGER", "(reader)", "Records stored as new events."),
    _c("duplicates", "INTEGER", "(reader)", "Records whose eventID was already stored."),
    _c(
        "rejected",
        "INTEGER",
        "(reader)",
        "Records listed in `rejected` (a file rejected whole has status "
        "rejected and its own row there).",
    ),
    _c("note", "VARCHAR", "(reader)", "Why a file was skipped, or what was adapted in reading it."),
    _c("run_id", "INTEGER", "(reader)", "The ingest run that read it."),
)

CONFLICT_COLUMNS: tuple[Column, ...] = (
    _c(
        "event_id", "VARCHAR", "(eventID)", "The event: its first copy read is the one in `events`."
    ),
    _c("file_id", "INTEGER", "(files.file_id)", "File of the copy that differs."),
    _c("position", "INTEGER", "(reader)", "Its place in that file, as in event_sources."),
    _c(
        "kept_file_id",
        "INTEGER",
        "(files.file_id)",
        "File of the copy kept in `events` (the first read).",
    ),
    _c("kept_position", "INTEGER", "(reader)", "Its place in that file."),
    _c(
        "fields",
        "VARCHAR",
        "(reader)",
        "The top-level fields whose values differ, comma-separated, e.g. `eventTime`.",
    ),
    _c("raw", "VARCHAR", "(reader)", "The differing copy's text, as read."),
)

REJECTED_COLUMNS: tuple[Column, ...] = (
    _c("file_id", "INTEGER", "(reader)", "File the input came from."),
    _c(
        "position",
        "INTEGER",
        "(reader)",
        "1-based place of the record, as in event_sources; NULL when the whole file was rejected.",
    ),
    _c("reason", "VARCHAR", "(reader)", "Why it was not stored."),
    _c(
        "raw",
        "VARCHAR",
        "(reader)",
        "The rejected record's text (NULL for a whole file: read it at files.path; and for a "
        "record nested too deeply to write out again).",
    ),
)

RUN_COLUMNS: tuple[Column, ...] = (
    _c("run_id", "INTEGER", "(reader)", "Run number."),
    _c("started_at", "TIMESTAMPTZ", "(reader)", "Start of the run."),
    _c("finished_at", "TIMESTAMPTZ", "(reader)", "End of the run; NULL if it was interrupted."),
    _c("sources", "JSON", "(reader)", "What the run was pointed at, and its filters."),
    _c("trailscope_version", "VARCHAR", "(reader)", "Version that wrote it."),
)

INTEGRITY_FILE_COLUMNS: tuple[Column, ...] = (
    _c(
        "file_id",
        "INTEGER",
        "(files.file_id)",
        "The file in the manifest; NULL for a file a digest lists that the database does not hold.",
    ),
    _c(
        "path",
        "VARCHAR",
        "(verify)",
        "Where the file is: files.path, or for a file only a digest names, its s3:// URL there.",
    ),
    _c("account_id", "VARCHAR", "(key layout)", "Account of the folder it was delivered to."),
    _c("region", "VARCHAR", "(key layout)", "Region of the folder it was delivered to."),
    _c(
        "event_time",
        "TIMESTAMPTZ",
        "(verify)",
        "Its newest event: as its digest lists it, else the latest of its events in the database.",
    ),
    _c(
        "status",
        "VARCHAR",
        "(verify)",
        "valid (a valid digest lists it with this hash), "
        "modified (the hash differs), appended (data follows the gzip member the hash covers), "
        "deleted (a valid digest lists it, the sources lack it), not_covered (no digest lists "
        "it), unverified (listed only by digests that cannot be verified), changed_since_ingest "
        "(its bytes are no longer those ingested), unreadable, not_ingested (in the sources, not "
        "in the database).",
    ),
    _c(
        "coverage",
        "VARCHAR",
        "(verify)",
        "For a file not listed: unlisted (valid digests "
        "cover its account, region and time), missing_digest (the digest for its time is "
        "missing), outside (no digest covers its time), no_digests (none for its account and "
        "region), not_delivery (not a file of the CloudTrail layout).",
    ),
    _c("digest", "VARCHAR", "(verify)", "The digest that lists it (a valid one first)."),
    _c("expected_sha256", "VARCHAR", "(digest)", "SHA-256 of the inflated content, as listed."),
    _c("actual_sha256", "VARCHAR", "(verify)", "SHA-256 of its first gzip member, inflated."),
    _c("reason", "VARCHAR", "(verify)", "What was found, in words."),
    _c("verified_at", "TIMESTAMPTZ", "(verify)", "When verify ran (each run replaces the last)."),
)

INTEGRITY_DIGEST_COLUMNS: tuple[Column, ...] = (
    _c(
        "path",
        "VARCHAR",
        "(verify)",
        "Where the digest was read, or for a missing one the s3:// URL its successor names.",
    ),
    _c("account_id", "VARCHAR", "(key layout)", "Account whose log files it lists."),
    _c("region", "VARCHAR", "(key layout)", "Region it was delivered from."),
    _c("trail", "VARCHAR", "(file name)", "Trail name, from the digest's file name."),
    _c(
        "backfill",
        "BOOLEAN",
        "(file name)",
        "A backfill digest (`_backfill`: log files a "
        "regular digest missed); backfill digests chain among themselves.",
    ),
    _c("digest_start", "TIMESTAMPTZ", "digestStartTime", "Start of the delivery period."),
    _c("digest_end", "TIMESTAMPTZ", "digestEndTime", "End of the delivery period."),
    _c("fingerprint", "VARCHAR", "digestPublicKeyFingerprint", "The key it was signed with."),
    _c("log_files", "INTEGER", "logFiles", "Log files it lists."),
    _c(
        "status",
        "VARCHAR",
        "(verify)",
        "valid (signature verified with a key CloudTrail "
        "published for that time), unverified (no signature at hand: the newest digest of a "
        "local copy), bad_signature, unknown_key, key_not_valid (signed with a key not valid "
        "then), moved, malformed, unsupported, appended, missing (named by its successor, "
        "absent).",
    ),
    _c(
        "link",
        "VARCHAR",
        "(verify)",
        "Its link to the digest before it: linked, start (a "
        "starting digest), gap (a starting digest after a stretch without digests), missing "
        "(the previous digest is absent), broken (its hash or signature of the previous digest "
        "is wrong), outside (the previous digest precedes the sources).",
    ),
    _c("previous", "VARCHAR", "previousDigestS3Object", "The previous digest it names."),
    _c("reason", "VARCHAR", "(verify)", "What was found, in words: status, then link."),
    _c("verified_at", "TIMESTAMPTZ", "(verify)", "When verify ran (each run replaces the last)."),
)

TABLES: dict[str, tuple[tuple[Column, ...], str]] = {
    "events": (
        EVENT_COLUMNS,
        (
            "One row per distinct CloudTrail event (keyed on eventID). A "
            "view over the table `event_store`, which holds every column "
            "not computed from `record` (and `record` itself as text)."
        ),
    ),
    "event_sources": (
        SOURCE_COLUMNS,
        (
            "Every place an event was read from: one row per copy, "
            "so overlapping trails stay visible."
        ),
    ),
    "files": (
        FILE_COLUMNS,
        (
            "The manifest: every file seen, read or skipped, and what came of "
            "it. Re-runs skip files already here with the same size and time. A file larger "
            f"than the cap on one file's size once inflated ({MAX_FILE_SIZE // 2**30} GiB unless "
            "`--max-file-size` says otherwise; CloudTrail's own files are tens of MB) is rejected, gzip while it "
            "inflates, so that a decompression bomb takes no more memory than the cap. A folder "
            "that cannot be listed is a row of its own (format `folder`, status rejected), as "
            "is a link to a folder already read (skipped). A path that is not UTF-8 is stored "
            "with its stray bytes written `\\xNN`."
        ),
    ),
    "rejected": (REJECTED_COLUMNS, "Everything read that was not stored, with where and why."),
    "duplicate_conflicts": (
        CONFLICT_COLUMNS,
        (
            "Copies of an event whose content differs from the copy stored: the same eventID "
            "in another file with another eventTime, account, caller... (a record altered, "
            "forged or replayed). The first copy read stays in `events`; each other one that "
            "differs is here with both places, counted among the duplicates, and raised by "
            "the duplicate_conflict check. Copies are compared ignoring key order, null "
            "fields, whether a scalar is quoted and how a time is written (what an export "
            "changes)."
        ),
    ),
    "ingest_runs": (RUN_COLUMNS, "One row per ingest run."),
    "integrity_files": (
        INTEGRITY_FILE_COLUMNS,
        (
            "What `trailscope verify` found for every log file the database holds and every "
            "file a digest lists: one row each, with the reason."
        ),
    ),
    "integrity_digests": (
        INTEGRITY_DIGEST_COLUMNS,
        (
            "What `trailscope verify` found for every CloudTrail digest file in its sources "
            "and every one the chain names that is missing: signature, link, reason."
        ),
    ),
}


# Rows in a row group of a trailscope database (Trail attaches its file with it). Half DuckDB's
# default: ingest commits a row group at a time, two being stored while the next is parsed, so
# the text of three row groups is held at once. At 122,880 that took 1.6 GB at 2 million
# events; at 61,440, 1.2 GB, and as fast (benchmarks/ingest.py).
ROW_GROUP_SIZE = 61_440

# JSON text compresses 5-10x with zstd, and zstd costs a third of DuckDB's default string
# compression at ingest (measured on 200,000 records: 0.45 s against 1.31 s).
_COMPRESSION = {"JSON": " using compression zstd"}


def _stored_type(c: Column) -> str:
    """`record` is stored as text and typed JSON in the view: the ingest parse has already
    checked it, and storing it as JSON parsed every record once more (a fifth of the cost of
    storing it, measured)."""
    if c.name == "record":
        return "VARCHAR" + _COMPRESSION["JSON"]
    return c.type + _COMPRESSION.get(c.type, "")


def _select_expression(c: Column) -> str:
    if c.computed:  # JSON null reads as SQL NULL, as for every other column
        path = "$." + ".".join(c.path)
        return f"nullif(json_extract(record, '{path}'), 'null'::json) as {c.name}"
    if c.name == "record":
        return "record::json as record"
    return c.name


def _create(name: str, columns: tuple[Column, ...]) -> str:
    cols = ",\n  ".join(f"{c.name} {_stored_type(c)}" for c in columns if c.stored)
    return f"create table if not exists {name} (\n  {cols}\n);"


def ddl() -> str:
    """CREATE statements for every table (idempotent). `events` is a view over `event_store`
    that adds the JSON parts, read from `record` when queried: stored twice they would double
    the database, and DuckDB's generated columns tripled the cost of inserting (measured)."""
    parts = []
    for table, (columns, _doc) in TABLES.items():
        parts.append(_create("event_store" if table == "events" else table, columns))
    parts.append(f"create or replace view events as {events_view()};")
    return "\n".join(parts)


def events_view() -> str:
    """The query of the `events` view over `event_store` (DuckDB SQL: trailscope.spark has it
    translated for Spark)."""
    view = ",\n  ".join(_select_expression(c) for c in EVENT_COLUMNS)
    return f"select\n  {view}\nfrom event_store"


def extraction_structure() -> str:
    """The json_transform structure that pulls every typed column out of a record."""
    tree: dict[str, object] = {}
    for col in EVENT_COLUMNS:
        if not col.path or col.computed:
            continue
        node = tree
        for key in col.path[:-1]:
            node = node.setdefault(key, {})  # type: ignore[assignment]
        node[col.path[-1]] = "VARCHAR"
    tree["@timestamp"] = "VARCHAR"  # Logstash exports carry the time here instead
    tree["CloudTrailEvent"] = "VARCHAR"  # LookupEvents output: the record as a string
    return json.dumps(tree)


def markdown() -> str:
    """The schema as Markdown: docs/schema.md is this text, checked by a test."""
    lines = [
        "# trailscope database schema",
        "",
        (
            "Generated from `trailscope/schema.py` by `trailscope schema`; a test keeps this file "
            "equal to it. Times are UTC (`SET TimeZone='UTC'`)."
        ),
    ]
    for table, (columns, doc) in TABLES.items():
        lines += [
            "",
            f"## `{table}`",
            "",
            doc,
            "",
            "| column | type | from | meaning |",
            "|---|---|---|---|",
        ]
        for c in columns:
            src = c.source if c.source.startswith("(") else f"`{c.source}`"
            if c.computed:
                src += " (computed from `record`)"
            lines.append(f"| `{c.name}` | {c.type} | {src} | {c.doc} |")
    return "\n".join(lines) + "\n"

-- title: Findings: log files changed, removed, added or unproven against CloudTrail's signed digests, and digests forged or missing
-- description: The integrity check, from what the last
-- `trailscope verify` stored (nothing before one has run). Log files: modified (critical: a
-- valid digest lists another hash), deleted (critical: a valid digest lists it, the sources
-- lack it), appended (high: data after the gzip member the hash covers), changed_since_ingest
-- (high: its bytes are not those ingested), unreadable (medium), and not covered by any digest:
-- unlisted (high: digests cover its account, region and time), missing_digest (high: the
-- digest for its time is missing), outside (medium: no digest covers its time), no_digests
-- (low: none for its account and region), not_delivery (info: not a file of the CloudTrail
-- layout). Digests: bad_signature (critical), key_not_valid, moved, malformed, unsupported,
-- appended (high), unknown_key (medium: forged, or the keys given are incomplete), missing
-- (high), and links broken (high) or with a gap (medium). Unverified files and digests (a
-- local copy's newest digest has no signature) are not findings: the report counts them.
-- The evidence: the events stored from the file, in file order (none for a deleted file or a
-- digest). finding_key is the file's or digest's path, which the finding ID is made from: a
-- deleted file or a digest has no events to name. event_time: the file's newest event, or the digest's end.
-- inputs: integrity_files, integrity_digests, event_sources
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids, finding_key
-- tags: findings, integrity, digests

with
file_events as (
    select
        file_id,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(event_id, ',' order by position) as event_ids,
        count(*) as events
    from event_sources
    group by file_id
),
files as (
    select
        f.*,
        case when f.status = 'not_covered' then f.coverage else f.status end as rule,
        coalesce(e.events, 0) as events,
        coalesce(e.event_ids, '') as event_ids
    from integrity_files f
    left join file_events e
        on e.file_id = f.file_id
    where f.status in ('modified', 'deleted', 'appended', 'changed_since_ingest', 'unreadable',
                       'not_covered')
),
file_findings as (
    select
        rule,
        case
            when rule in ('modified', 'deleted') then 'critical'
            when rule in ('appended', 'changed_since_ingest', 'unlisted', 'missing_digest')
                then 'high'
            when rule in ('unreadable', 'outside') then 'medium'
            when rule = 'no_digests' then 'low'
            else 'info'
        end as severity,
        account_id,
        coalesce(event_time, verified_at) as event_time,
        path,
        concat(
            case rule
                when 'modified' then 'Log file modified after CloudTrail delivered it: '
                when 'deleted' then 'Log file deleted after CloudTrail delivered it: '
                when 'appended' then 'Data appended to a log file after its signed content: '
                when 'changed_since_ingest' then 'Log file changed since it was ingested: '
                when 'unreadable' then 'Log file no longer readable: '
                when 'unlisted' then 'Log file CloudTrail''s digests do not list: '
                when 'missing_digest' then 'Log file of an hour whose digest is missing: '
                when 'outside' then 'Log file outside the time the digests cover: '
                when 'no_digests' then 'Log file with no digests for its account and region: '
                else 'Log file no digest can cover: '
            end,
            path) as title,
        concat(
            reason, '. ',
            case when events > 0
                 then concat(events, ' event(s) in the database were read from it (the evidence)',
                             case when rule in ('modified', 'appended', 'unlisted',
                                                'missing_digest', 'changed_since_ingest')
                                  then ': treat them as unproven, and any finding resting on '
                                       || 'them with care. '
                                  else '. ' end)
                 else '' end,
            case rule
                when 'deleted' then 'What it held is not in the database: look for another copy '
                    || '(an overlapping trail, a backup, S3 versions) and ask who could delete '
                    || 'objects in the bucket.'
                when 'modified' then 'Compare it with another copy if one exists, and ask who '
                    || 'could write to the bucket.'
                when 'appended' then 'The digest proves only the first gzip member.'
                when 'no_digests' then 'Its integrity is unknown: nothing here says it was '
                    || 'changed.'
                when 'not_delivery' then 'Its integrity is unknown: nothing here says it was '
                    || 'changed.'
                when 'outside' then 'Add the digests of that time to the sources to settle it.'
                else ''
            end) as explanation,
        event_ids as evidence_event_ids
    from files
),
digests as (
    select
        *,
        case
            when status in ('malformed', 'moved', 'unsupported', 'unknown_key', 'bad_signature',
                            'key_not_valid', 'appended', 'missing') then concat('digest_', status)
            else concat('digest_link_', link)
        end as rule
    from integrity_digests
    where status in ('malformed', 'moved', 'unsupported', 'unknown_key', 'bad_signature',
                     'key_not_valid', 'appended', 'missing')
       or link in ('missing', 'broken', 'gap')
),
digest_findings as (
    select
        rule,
        case
            when rule = 'digest_bad_signature' then 'critical'
            when rule in ('digest_unknown_key', 'digest_link_gap') then 'medium'
            else 'high'
        end as severity,
        account_id,
        coalesce(digest_end, verified_at) as event_time,
        path,
        concat(
            case rule
                when 'digest_bad_signature' then 'Digest file whose signature does not verify: '
                when 'digest_missing' then 'Digest file missing from the chain: '
                when 'digest_key_not_valid' then 'Digest file signed with a key not valid then: '
                when 'digest_unknown_key' then 'Digest file signed with an unknown key: '
                when 'digest_link_broken' then 'Digest chain broken at: '
                when 'digest_link_gap' then 'Digest chain restarts after a gap at: '
                when 'digest_link_missing' then 'Digest whose predecessor is missing: '
                else concat('Digest file ', replace(rule, 'digest_', ''), ': ')
            end,
            path) as title,
        concat(reason, '. ',
               'The log files a digest lists, and the digests before it, can only be proven '
               || 'through a chain of valid digests.') as explanation,
        '' as evidence_event_ids
    from digests
),
raw as (
    select * from file_findings
    union all
    select * from digest_findings
)
select
    rule,
    severity,
    account_id,
    cast(null as varchar) as principal,
    cast(null as varchar) as session_id,
    event_time,
    title,
    explanation,
    evidence_event_ids,
    cast(null as varchar) as context_event_ids,
    path as finding_key
from raw
order by event_time, rule, finding_key

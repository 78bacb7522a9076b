-- title: Findings: copies of one event that differ, a record altered, forged or replayed
-- description: The duplicate-conflict check: one finding (high)
-- per event of which ingest read copies whose content differs from the copy it stored
-- (duplicate_conflicts: the same eventID with another eventTime, account, caller,
-- parameters...). An eventID names one event, so one of the copies is not what CloudTrail
-- wrote, and which one the logs alone cannot say; every other check saw the stored copy, the
-- first read. account_id, principal and event_time are the stored copy's. Evidence: the event.
-- inputs: duplicate_conflicts, events, files
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, integrity, ingest

with
conflicts as (
    select
        c.event_id,
        count(*) as copies,
        min(c.kept_file_id) as kept_file_id,
        min(c.kept_position) as kept_position,
        string_agg(concat(f.path, ' #', c.position), ', ' order by f.path, c.position) as places
    from duplicate_conflicts c
    join files f
        on f.file_id = c.file_id
    group by c.event_id
),
differing as (
    select
        event_id,
        string_agg(distinct trim(field), ', ' order by trim(field)) as fields
    from duplicate_conflicts, unnest(string_split(fields, ',')) as t(field)
    group by event_id
),
raw as (
    select
        'content_differs' as rule,
        'high' as severity,
        e.recipient_account_id as account_id,
        coalesce(e.identity_arn, e.invoked_by) as principal,
        e.event_time,
        concat('Event ', c.event_id, ' was read with ', c.copies + 1,
               ' different contents') as title,
        concat('The eventID ', c.event_id, ' (', coalesce(e.event_name, 'no eventName'), ' at ',
               strftime(e.event_time, '%Y-%m-%dT%H:%M:%SZ'), ' in account ',
               coalesce(e.recipient_account_id, 'unknown'), ') was stored from ', k.path, ' #',
               c.kept_position, '; ', c.copies, ' other cop', case when c.copies = 1 then 'y'
               else 'ies' end, ' differ in ', d.fields, ': ', c.places, '. One eventID names '
               || 'one event, so a record was altered, forged or replayed, and the logs alone '
               || 'cannot say which copy is genuine; every check used the stored one. Compare '
               || 'the copies (duplicate_conflicts.raw and events.record) with the files '
               || 'CloudTrail delivered, and validate those with their digest files (aws '
               || 'cloudtrail validate-logs).') as explanation,
        c.event_id as evidence_event_ids
    from conflicts c
    join differing d
        on d.event_id = c.event_id
    join events e
        on e.event_id = c.event_id
    join files k
        on k.file_id = c.kept_file_id
)
select
    rule,
    severity,
    account_id,
    principal,
    cast(null as varchar) as session_id,
    event_time,
    title,
    explanation,
    evidence_event_ids,
    cast(null as varchar) as context_event_ids
from raw
order by event_time, evidence_event_ids

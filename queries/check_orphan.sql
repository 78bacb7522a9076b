-- title: Findings: root sessions whose AssumeRoot call is in no log
-- description: The orphan-session check: one finding (high) per
-- orphan session of assume_root_sessions, events made with root session credentials (flagged
-- assumedRoot) whose key no AssumeRoot call in the logs issued. Its caller, task policy and
-- authorization are unknown. Evidence: every event of the session, in time order.
-- inputs: assume_root_sessions, root_session_events
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, assume_root, orphan

with
orphans as (
    select *
    from assume_root_sessions
    where session_kind = 'orphan'
),
activity as (
    select
        session_id,
        string_agg(distinct event_name, ', ' order by event_name) as calls,
        string_agg(distinct source_ip, ', ' order by source_ip) as source_ips,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(event_id, ',' order by event_time, event_id) as event_ids
    from root_session_events
    where session_kind = 'orphan'
    group by session_id
),
raw as (
    select
        'no_assume_root_call' as rule,
        'high' as severity,
        o.target_account_id as account_id,
        concat('arn:aws:iam::', o.target_account_id, ':root') as principal,
        o.session_id,
        o.first_event_at as event_time,
        concat('Root session ', o.session_id, ' on ', o.target_account_id,
               ' with no AssumeRoot call in the logs') as title,
        concat('Between ', strftime(o.first_event_at, '%Y-%m-%d %H:%M:%SZ'), ' and ',
               strftime(o.last_event_at, '%Y-%m-%d %H:%M:%SZ'), ' the key ', o.session_id,
               ' made ', o.events, ' call(s) as the root user of ', o.target_account_id,
               ' with a root session (assumedRoot) from ', a.source_ips, ' in ', o.regions,
               ': ', a.calls, '. No ingested AssumeRoot call issued that key, so who opened '
               || 'the session, with which task policy and whether they were allowed is '
               || 'unknown. Ingest the logs of the management account and the IAM delegated '
               || 'administrator for that time (see the coverage query); if the call is in '
               || 'none of them, it came from outside the organization''s logs: treat the '
               || 'session as unexplained root access.') as explanation,
        a.event_ids as evidence_event_ids
    from orphans o
    join activity a
        on a.session_id = o.session_id
)
select
    *,
    cast(null as varchar) as context_event_ids
from raw
order by event_time, rule, evidence_event_ids

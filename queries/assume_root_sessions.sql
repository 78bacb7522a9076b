-- title: AssumeRoot sessions: who opened root power on which member account, for what, how long
-- description: One row per sts:AssumeRoot call, failed ones included (session_kind assume_root,
-- session_id its eventID), and one per orphan session: root session activity whose AssumeRoot
-- call is in no log (session_kind orphan, session_id its access key; issued_at its
-- creationDate; caller columns empty, source_ip and user_agent those of its first event). The
-- call's columns are those of assume_root_calls; the rest sums up the session's events in the
-- target account (root_session_events), across regions and trails: how many, how many failed,
-- were out of the task policy's scope (a call the policy denies in practice counts when it
-- succeeded) or came after the credentials expired, the regions they were made in, and
-- active_seconds, from issue to the last successful event.
-- inputs: assume_root_calls, root_session_events
-- outputs: session_id, session_kind, issued_at, outcome, error_code, caller_account_id,
-- caller_arn, source_ip, user_agent, call_region, target_account_id, task_policy,
-- task_policy_arn, requested_duration, duration_seconds, expires_at, access_key_id, events,
-- failed_events, out_of_scope_events, after_expiry_events, regions, first_event_at,
-- last_event_at, active_seconds
-- tags: assume_root, sessions

with
session_events as (
    select *
    from root_session_events
),
activity as (
    select
        session_id,
        count(*) as events,
        count(*) filter (where outcome = 'failed') as failed_events,
        count(*) filter (where scope in ('out of scope', 'out of scope: not the root user',
                                         'out of scope: not the target account',
                                         'unknown action')
                            or (scope = 'denied in practice' and outcome = 'succeeded'))
            as out_of_scope_events,
        count(*) filter (where after_expiry or expired_token) as after_expiry_events,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(distinct aws_region, ',' order by aws_region) as regions,
        min(event_time) as first_event_at,
        max(event_time) as last_event_at,
        max(seconds_after_issue) filter (where outcome = 'succeeded') as active_seconds
    from session_events
    group by session_id
),
/* arg_min: DuckDB; Spark's min_by */
orphans as (
    select
        session_id,
        min(event_time) - to_seconds(min(seconds_after_issue)) as issued_at,
        arg_min(account_id, event_time) as target_account_id,
        arg_min(source_ip, event_time) as source_ip,
        arg_min(user_agent, event_time) as user_agent,
        arg_min(access_key_id, event_time) as access_key_id
    from session_events
    where session_kind = 'orphan'
    group by session_id
),
sessions as (
    select
        c.session_id,
        'assume_root' as session_kind,
        c.issued_at,
        c.outcome,
        c.error_code,
        c.caller_account_id,
        c.caller_arn,
        c.source_ip,
        c.user_agent,
        c.call_region,
        c.target_account_id,
        c.task_policy,
        c.task_policy_arn,
        c.requested_duration,
        c.duration_seconds,
        c.expires_at,
        c.access_key_id
    from assume_root_calls c
    union all
    select
        o.session_id,
        'orphan',
        o.issued_at,
        'not in the logs',
        null,
        null,
        null,
        o.source_ip,
        o.user_agent,
        null,
        o.target_account_id,
        null,
        null,
        null,
        900,
        o.issued_at + interval 900 second,
        o.access_key_id
    from orphans o
),
result as (
    select
        s.*,
        coalesce(a.events, 0) as events,
        coalesce(a.failed_events, 0) as failed_events,
        coalesce(a.out_of_scope_events, 0) as out_of_scope_events,
        coalesce(a.after_expiry_events, 0) as after_expiry_events,
        a.regions,
        a.first_event_at,
        a.last_event_at,
        a.active_seconds
    from sessions s
    left join activity a
        on a.session_id = s.session_id
)
select *
from result
order by issued_at, session_id

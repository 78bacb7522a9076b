-- title: One AssumeRoot session, event by event
-- description: Every event of the session $session_id (the AssumeRoot call's eventID, or the
-- session's access key ID) in time order: the AssumeRoot call first (scope 'issuing call',
-- account_id the caller's), then each event the session's key made in the target account, in
-- whatever region or trail, with its IAM action, task scope and outcome (see
-- root_session_events). seconds_after_issue counts from the call; after_expiry marks events
-- later than the credentials' expiration.
-- inputs: assume_root_calls, root_session_events
-- outputs: seq, session_id, event_time, seconds_after_issue, event_id, account_id, aws_region,
-- event_source, event_name, action, scope, outcome, error_code, error_message, after_expiry,
-- source_ip, user_agent
-- params: session_id
-- tags: assume_root, sessions, timeline

with
call as (
    select *
    from assume_root_calls
    where session_id = $session_id
       or access_key_id = $session_id
),
events_of as (
    select *
    from root_session_events
    where session_id = $session_id
       or (access_key_id = $session_id and session_kind = 'orphan')
       or session_id in (select session_id from call)
),
timeline as (
    select
        session_id,
        issued_at as event_time,
        0 as seconds_after_issue,
        session_id as event_id,
        caller_account_id as account_id,
        call_region as aws_region,
        'sts.amazonaws.com' as event_source,
        'AssumeRoot' as event_name,
        'sts:AssumeRoot' as action,
        'issuing call' as scope,
        case when error_code is null then 'succeeded' else 'failed' end as outcome,
        error_code,
        error_message,
        false as after_expiry,
        source_ip,
        user_agent
    from call
    union all
    select
        session_id,
        event_time,
        seconds_after_issue,
        event_id,
        account_id,
        aws_region,
        event_source,
        event_name,
        action,
        scope,
        outcome,
        error_code,
        error_message,
        after_expiry,
        source_ip,
        user_agent
    from events_of
),
result as (
    select
        row_number() over (order by event_time, seconds_after_issue, event_id) as seq,
        *
    from timeline
)
select *
from result
order by seq

-- title: Findings: AssumeRoot sessions that asked for, were given or used more than 15 minutes
-- description: The duration check. requested_duration: a call
-- asked for durationSeconds above 900 (low when it failed, as AWS makes it; high if it
-- succeeded). expiration_beyond_limit: credentials whose expiration is more than 900 s after
-- the call (high). expiration_unreadable: an issued session whose expiration could not be read
-- (info). active_beyond_limit: a session whose key made a successful call more than the clock
-- tolerance (5 s) after its expiration or after 900 s from issue (high): eventTime is when the
-- request completed, on the serving host's clock (CloudTrail record contents), so a call
-- authenticated just before expiry can be logged a second or two after it, and such a call is
-- no finding. expired_key_used: a session whose key was used after it expired, every such call
-- refused (ExpiredToken at any time, or another error past the clock tolerance; medium). Its
-- evidence is the AssumeRoot call (orphan sessions have none), then the events concerned, in
-- time order.
-- inputs: assume_root_calls, assume_root_sessions, root_session_events
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, assume_root, duration

with
/* A successful call logged up to clock_tolerance_seconds past the limit is no breach:
   eventTime is the completion time on the serving host's clock (CloudTrail record contents;
   trailscope/task_policies.json assume_root.event_time). */
limits as (
    select 900 as max_session_seconds, 5 as clock_tolerance_seconds
),
sessions as (
    select *
    from assume_root_sessions
),
/* events of a session past its limit: refused as expired, or refused or succeeding past the
   expiry or 900 s by more than the clock tolerance (a call refused for another reason and
   logged just past expiry was made before it) */
late as (
    select
        e.session_id,
        count(*) filter (where e.outcome = 'succeeded') as late_ok,
        count(*) as late_all,
        max(e.seconds_after_issue) as last_second,
        max(e.seconds_after_issue) filter (where e.outcome = 'succeeded') as last_ok_second,
        min(e.event_time) as first_late_at,
        string_agg(distinct coalesce(e.error_code, 'succeeded'), ', '
                   order by coalesce(e.error_code, 'succeeded')) as outcomes,
        string_agg(e.event_name, ', ' order by e.event_time, e.event_id) as calls,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(e.event_id, ',' order by e.event_time, e.event_id) as event_ids
    from root_session_events e
    join sessions s
        on s.session_id = e.session_id
    cross join limits l
    where e.expired_token
       or e.seconds_after_issue > l.max_session_seconds + l.clock_tolerance_seconds
       or e.event_time > s.expires_at + to_seconds(l.clock_tolerance_seconds)
    group by e.session_id
),
raw as (
    select
        'requested_duration' as rule,
        case when s.outcome = 'issued' then 'high' else 'low' end as severity,
        s.caller_account_id as account_id,
        s.caller_arn as principal,
        s.session_id,
        s.issued_at as event_time,
        concat('AssumeRoot asked for ', s.requested_duration, ' s of root session on ',
               s.target_account_id, ' (the limit is 900 s)',
               case when s.outcome = 'failed' then concat(': refused, ', s.error_code)
                    else ': and it was granted' end) as title,
        concat(s.caller_arn, ' called sts:AssumeRoot from ', s.source_ip, ' in ',
               s.call_region, ' at ', strftime(s.issued_at, '%Y-%m-%dT%H:%M:%SZ'),
               ' with durationSeconds ', s.requested_duration, ' for ', s.task_policy,
               ' on ', s.target_account_id, '. AssumeRoot sessions last at most 900 s',
               case when s.outcome = 'failed'
                    then ', so AWS refused the call. Ask the caller why a longer root session '
                         || 'was wanted; repeated attempts suggest a script or a person '
                         || 'probing the limit.'
                    else '; a longer one means the record or the service is not what AWS '
                         || 'documents: check the session''s activity and the record''s '
                         || 'origin.' end) as explanation,
        s.session_id as evidence_event_ids
    from sessions s
    where s.session_kind = 'assume_root'
      and s.requested_duration > 900
    union all
    select
        'expiration_beyond_limit',
        'high',
        s.target_account_id,
        s.caller_arn,
        s.session_id,
        s.issued_at,
        concat('Root session on ', s.target_account_id, ' issued for ',
               date_diff('second', s.issued_at, s.expires_at), ' s (the limit is 900 s)'),
        concat('The AssumeRoot call at ', strftime(s.issued_at, '%Y-%m-%dT%H:%M:%SZ'), ' by ',
               s.caller_arn, ' returned credentials ', s.access_key_id, ' expiring at ',
               strftime(s.expires_at, '%Y-%m-%dT%H:%M:%SZ'), ', ',
               date_diff('second', s.issued_at, s.expires_at), ' s later. AWS caps root '
               || 'sessions at 900 s: verify the record against another copy of the logs and '
               || 'review everything the key did.'),
        s.session_id
    from sessions s
    where s.session_kind = 'assume_root'
      and s.expires_at is not null
      and date_diff('second', s.issued_at, s.expires_at) > 900
    union all
    select
        'expiration_unreadable',
        'info',
        c.target_account_id,
        c.caller_arn,
        c.session_id,
        c.issued_at,
        concat('Expiration of the root session on ', c.target_account_id,
               ' cannot be read: ', c.expiration_text),
        concat('The AssumeRoot response gives credentials.expiration as "',
               c.expiration_text, '", neither "Oct 25, 2024, 9:07:11 PM" nor ISO 8601: the '
               || 'session''s expiry is taken as issue time plus ', c.duration_seconds,
               ' s instead. Report the format so trailscope can read it.'),
        c.session_id
    from assume_root_calls c
    where c.outcome = 'issued'
      and c.expiration_text is not null
      and c.expires_at is null
    union all
    select
        case when l.late_ok > 0 then 'active_beyond_limit' else 'expired_key_used' end,
        case when l.late_ok > 0 then 'high' else 'medium' end,
        s.target_account_id,
        coalesce(s.caller_arn, concat('arn:aws:iam::', s.target_account_id, ':root')),
        s.session_id,
        l.first_late_at,
        case when l.late_ok > 0
             then concat('Root session on ', s.target_account_id, ' still succeeding ',
                         l.last_ok_second, ' s after issue (the limit is 900 s)')
             else concat('Expired root session key used on ', s.target_account_id, ' ',
                         l.last_second, ' s after issue (', l.outcomes, ')') end,
        concat(case when s.session_kind = 'orphan'
                    then concat('The orphan root session ', s.session_id, ' (created ',
                                strftime(s.issued_at, '%Y-%m-%dT%H:%M:%SZ'), ')')
                    else concat('The ', s.task_policy, ' session opened by ', s.caller_arn,
                                ' at ', strftime(s.issued_at, '%Y-%m-%dT%H:%M:%SZ'),
                                ' (key ', s.access_key_id, ', expiring ',
                                strftime(s.expires_at, '%Y-%m-%dT%H:%M:%SZ'), ')') end,
               ' made ', l.late_all, ' call(s) past its limit: ', l.calls, ' (', l.outcomes,
               '). ',
               case when l.late_ok > 0
                    then 'A root session key must stop working 900 s after issue at most; '
                         || 'calls that succeeded later mean the key, the clock or the record '
                         || 'is not what it seems. Review those calls and who held the key.'
                    else 'AWS refused them, but someone kept the root session''s key and '
                         || 'used it after it expired: find out who, and whether the key was '
                         || 'copied off the caller''s machine.' end),
        concat_ws(',', case when s.session_kind = 'assume_root' then s.session_id end,
                  l.event_ids)
    from sessions s
    join late l
        on l.session_id = s.session_id
)
select
    *,
    cast(null as varchar) as context_event_ids
from raw
order by event_time, rule, evidence_event_ids

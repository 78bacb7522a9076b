-- title: Findings: root sessions whose AssumeRoot call is in no log
-- description: The orphan-session check: one finding per orphan
-- session of assume_root_sessions, events made with root session credentials (flagged
-- assumedRoot) whose key no AssumeRoot call in the logs issued. Its caller, task policy and
-- authorization are unknown. Rule no_assume_root_call (high): the logs of every account that
-- may call AssumeRoot (the management account and the IAM delegated administrators the
-- organization's state names; failing those, the accounts seen calling it; failing those, all
-- accounts) go on past the session's first event by more than the delivery delay. Rule
-- call_maybe_undelivered (low): the session began after, or within the delivery delay (15
-- minutes) of, the end of one of those accounts' logs, so its AssumeRoot call may simply not
-- be delivered yet: CloudTrail delivers within about 5 minutes on average, not guaranteed
-- (CloudTrail User Guide, "Getting and viewing your CloudTrail log files"). Evidence: every
-- event of the session, in time order.
-- inputs: assume_root_sessions, root_session_events, assume_root_calls, org_state_intervals, events
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, assume_root, orphan

with
/* trailscope's margin, three times AWS's average delivery time; task_policies.json
   assume_root.delivery_delay */
limits as (
    select 15 as delivery_delay_minutes
),
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
/* the accounts that may call AssumeRoot, as the organization's state names them */
named_callers as (
    select distinct account_id
    from org_state_intervals
    where account_id is not null
      and (kind = 'management_account'
           or (kind = 'delegated_admin' and subject = 'iam.amazonaws.com' and active))
),
seen_callers as (
    select distinct caller_account_id as account_id
    from assume_root_calls
    where caller_account_id is not null
),
callers as (
    select account_id from named_callers
    union
    select account_id from seen_callers
    where not exists (select 1 from named_callers)
),
logs_end as (
    select recipient_account_id as account_id, max(event_time) as last_event
    from events
    group by recipient_account_id
),
/* the earliest end of a caller's logs (all logs' end when no caller is known) */
coverage as (
    select
        coalesce(min(e.last_event) filter (where c.account_id is not null),
                 max(e.last_event)) as ends_at,
        arg_min(e.account_id, e.last_event) filter (where c.account_id is not null)
            as ends_first
    from logs_end e
    left join callers c
        on c.account_id = e.account_id
),
raw as (
    select
        case when o.first_event_at > v.ends_at - to_minutes(l.delivery_delay_minutes)
             then 'call_maybe_undelivered' else 'no_assume_root_call' end as rule,
        case when o.first_event_at > v.ends_at - to_minutes(l.delivery_delay_minutes)
             then 'low' else 'high' end as severity,
        o.target_account_id as account_id,
        concat('arn:aws:iam::', o.target_account_id, ':root') as principal,
        o.session_id,
        o.first_event_at as event_time,
        concat('Root session ', o.session_id, ' on ', o.target_account_id,
               case when o.first_event_at > v.ends_at - to_minutes(l.delivery_delay_minutes)
                    then ' with no AssumeRoot call in the logs yet'
                    else ' with no AssumeRoot call in the logs' end) as title,
        concat('Between ', strftime(o.first_event_at, '%Y-%m-%dT%H:%M:%SZ'), ' and ',
               strftime(o.last_event_at, '%Y-%m-%dT%H:%M:%SZ'), ' the key ', o.session_id,
               ' made ', o.events, ' call(s) as the root user of ', o.target_account_id,
               ' with a root session (assumedRoot) from ', a.source_ips, ' in ', o.regions,
               ': ', a.calls, '. No ingested AssumeRoot call issued that key, so who opened '
               || 'the session, with which task policy and whether they were allowed is '
               || 'unknown. ',
               case
                   when o.first_event_at > v.ends_at - to_minutes(l.delivery_delay_minutes)
                       then concat('This is not yet evidence of a missing call: the logs of ',
                                   coalesce(v.ends_first, 'the accounts'),
                                   ', which may call AssumeRoot, end at ',
                                   strftime(v.ends_at, '%Y-%m-%dT%H:%M:%SZ'),
                                   case when o.first_event_at > v.ends_at
                                        then ', before the session began'
                                        else concat(', less than ', l.delivery_delay_minutes,
                                                    ' minutes after it began') end,
                                   ', and CloudTrail delivers a call about 5 minutes after it '
                                   || 'on average, with no guarantee. Ingest those logs up to '
                                   || 'a later time; if the call is still missing, treat the '
                                   || 'session as unexplained root access.')
                   else 'Ingest the logs of the management account and the IAM delegated '
                        || 'administrator for that time (see the coverage query); if the call '
                        || 'is in none of them, it came from outside the organization''s '
                        || 'logs: treat the session as unexplained root access.'
               end) as explanation,
        a.event_ids as evidence_event_ids
    from orphans o
    join activity a
        on a.session_id = o.session_id
    cross join coverage v
    cross join limits l
)
select
    *,
    cast(null as varchar) as context_event_ids
from raw
order by event_time, rule, evidence_event_ids

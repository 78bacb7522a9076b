-- title: Every event a root session performed, linked to its AssumeRoot call, with its task scope
-- description: One row per event made with root session credentials in a member account
-- (userIdentity.type Root), across regions and trails. An event belongs to the AssumeRoot call
-- whose response issued its access key (session_kind assume_root; a key the logs show issued
-- twice, to the issue in force at the event), whatever its
-- sessionContext.assumedRoot says: member-account events may lack that flag. An event flagged
-- assumedRoot whose key no AssumeRoot call in the logs issued belongs to an orphan session
-- (session_id is then its access key; an event without a key belongs to the session of its
-- account and creationDate, no-key/<account>/<creationDate>, or stands alone as
-- no-key/<eventID> when it has no creationDate either). Root events with neither are
-- long-term root use (see root_long_term_activity). action is the IAM action that authorizes
-- the event (task_event_actions); scope compares it with the actions the task policy allowed
-- at event_time (task_policy_actions): out of scope: not the target account (the key, which
-- acts only as the root user of the account AssumeRoot named, logged in another account),
-- in scope, out of scope, out of scope: not the root user (an IAM action on a named IAM
-- user), denied in practice (listed by the policy, but only on the root user, which the
-- action's resource never is: iam:DeleteVirtualMFADevice), unknown
-- action (an event with no known action: never allowed), no permission needed
-- (sts:GetCallerIdentity), session bookkeeping (ConsoleLogin), policy unknown (a task policy
-- not among the five, or an orphan session). denied is an access-denied error; after_expiry
-- an event later than the credentials' expiration (an orphan session's expiry is taken as 900
-- s after its creationDate, or its first event when no event carries one).
-- inputs: events, assume_root_calls, task_event_actions, task_policy_actions
-- outputs: session_id, session_kind, event_time, event_id, account_id, aws_region,
-- event_source, event_name, access_key_id, assumed_root, action, scope, outcome, error_code,
-- error_message, denied, expired_token, seconds_after_issue, after_expiry, iam_user_name,
-- source_ip, user_agent
-- tags: assume_root, sessions

with
/* identity_type is a stored column: the JSON of the few root events is read, nobody else's */
root_events as (
    select
        event_id,
        event_time,
        recipient_account_id as account_id,
        aws_region,
        event_source,
        event_name,
        nullif(access_key_id, '') as access_key_id,
        coalesce(assumed_root, false) as assumed_root,
        session_created_at,
        error_code,
        error_message,
        source_ip,
        user_agent,
        case when event_source = 'iam.amazonaws.com'
             then nullif(request_parameters ->> '$.userName', '') end as iam_user_name
    from events
    where identity_type = 'Root'
),
issued as (
    select session_id, access_key_id, issued_at, expires_at, duration_seconds, task_policy_arn,
           target_account_id
    from assume_root_calls
    where access_key_id is not null
),
/* AWS never issues a key twice; should the logs show one issued twice, an event belongs to
   the issue in force when it happened (the latest one before it; failing that, the first),
   not to the first, whose limits it would break */
candidates as (
    select
        e.*,
        i.session_id,
        'assume_root' as session_kind,
        i.issued_at,
        coalesce(i.expires_at, i.issued_at + to_seconds(i.duration_seconds)) as expires_at,
        i.task_policy_arn,
        i.target_account_id,
        row_number() over (
            partition by e.event_id
            order by case when i.issued_at <= e.event_time then 0 else 1 end,
                     case when i.issued_at <= e.event_time then i.issued_at end desc,
                     i.issued_at, i.session_id) as n
    from root_events e
    join issued i
        on i.access_key_id = e.access_key_id
),
linked as (
    select * exclude (n)
    from candidates
    where n = 1
),
/* An orphan session is its key. Events without a key are no one 900 s session: those that
   share an account and creationDate were issued together, any other stands alone. */
orphan_events as (
    select
        e.*,
        coalesce(e.access_key_id,
                 'no-key/' || e.account_id || '/'
                     || strftime(e.session_created_at, '%Y-%m-%dT%H:%M:%SZ'),
                 'no-key/' || e.event_id) as orphan_id
    from root_events e
    where e.assumed_root
      and not exists (select 1 from issued i where i.access_key_id = e.access_key_id)
),
orphan_sessions as (
    select
        orphan_id,
        min(coalesce(session_created_at, event_time)) as issued_at
    from orphan_events
    group by orphan_id
),
orphans as (
    select  /* exclude: DuckDB's star modifier; Spark lists the columns */
        e.* exclude (orphan_id),
        e.orphan_id as session_id,
        'orphan' as session_kind,
        s.issued_at,
        s.issued_at + interval 900 second as expires_at,
        cast(null as varchar) as task_policy_arn,
        cast(null as varchar) as target_account_id
    from orphan_events e
    join orphan_sessions s
        on s.orphan_id = e.orphan_id
),
session_events as (
    select * from linked
    union all
    select * from orphans
),
known_policies as (
    select distinct policy_arn
    from task_policy_actions
),
/* the policy version in force at event_time: removed actions carry allowed_until */
allowed as (
    select s.event_id, bool_or(p.denied_in_practice) as denied_in_practice
    from session_events s
    join task_event_actions m
        on m.event_source = s.event_source
       and m.event_name = s.event_name
    join task_policy_actions p
        on p.policy_arn = s.task_policy_arn
       and p.action = m.action
       and (p.allowed_from is null or s.event_time >= cast(p.allowed_from as timestamptz))
       and (p.allowed_until is null or s.event_time < cast(p.allowed_until as timestamptz))
    group by s.event_id
),
result as (
    select
        s.session_id,
        s.session_kind,
        s.event_time,
        s.event_id,
        s.account_id,
        s.aws_region,
        s.event_source,
        s.event_name,
        s.access_key_id,
        s.assumed_root,
        m.action,
        case
            when s.account_id <> s.target_account_id then 'out of scope: not the target account'
            when m.event_name is not null and m.action is null then 'session bookkeeping'
            when m.action = 'sts:GetCallerIdentity' then 'no permission needed'
            when k.policy_arn is null then 'policy unknown'
            when m.event_name is null then 'unknown action'
            when a.event_id is null then 'out of scope'
            when a.denied_in_practice then 'denied in practice'
            when s.iam_user_name is not null then 'out of scope: not the root user'
            else 'in scope'
        end as scope,
        case when s.error_code is null then 'succeeded' else 'failed' end as outcome,
        s.error_code,
        s.error_message,
        coalesce(s.error_code like '%AccessDenied%' or s.error_code like '%Unauthorized%'
                 or s.error_code in ('AuthorizationError', 'Forbidden'), false) as denied,
        coalesce(s.error_code like 'ExpiredToken%', false) as expired_token,
        /* date_diff: DuckDB; Spark's timestampdiff(SECOND, ...) */
        date_diff('second', s.issued_at, s.event_time) as seconds_after_issue,
        s.event_time > s.expires_at as after_expiry,
        s.iam_user_name,
        s.source_ip,
        s.user_agent
    from session_events s
    left join task_event_actions m
        on m.event_source = s.event_source
       and m.event_name = s.event_name
    left join known_policies k
        on k.policy_arn = s.task_policy_arn
    left join allowed a
        on a.event_id = s.event_id
)
select *
from result
order by session_id, event_time, event_id

-- title: The organization's access state at one moment
-- description: For the time $at (an ISO 8601 timestamp, UTC), one row per piece of state the
-- logs tell about: trusted access per service principal, delegated administrators, service-
-- linked roles, the centralized root access features, membership and the management account.
-- The root access features and trusted access for iam.amazonaws.com always get a row. state is
-- 'unknown' (active empty) when no interval covers $at, e.g. before or after the logs; known
-- is false when the state was inferred rather than seen set: never rest a violation on it.
-- The other columns are those of the interval that covers $at (see org_state_intervals).
-- inputs: org_state_intervals
-- outputs: at, kind, subject, account_id, active, state, known, start_time, end_time,
-- start_observed, end_observed, actor, actor_account, evidence_event_ids
-- params: at
-- tags: organization, state

with
/* org_state_intervals, read once: DuckDB computes a view each time a query names it,
   a CTE named more than once only once */
intervals as (
    select *
    from org_state_intervals
),
asked as (
    select cast($at as timestamptz) as at
),
subjects as (
    select distinct kind, subject, account_id
    from intervals
    union
    select 'root_feature', 'RootCredentialsManagement', null
    union
    select 'root_feature', 'RootSessions', null
    union
    select 'trusted_access', 'iam.amazonaws.com', null
),
result as (
    select
        a.at,
        s.kind,
        s.subject,
        s.account_id,
        i.active,
        coalesce(i.state, 'unknown') as state,
        coalesce(i.known, false) as known,
        i.start_time,
        i.end_time,
        i.start_observed,
        i.end_observed,
        i.actor,
        i.actor_account,
        i.evidence_event_ids
    from subjects s
    cross join asked a
    left join intervals i
        on i.kind = s.kind
       and i.subject = s.subject
       and i.account_id is not distinct from s.account_id
       and a.at >= i.start_time
       and (a.at < i.end_time or (a.at = i.end_time and i.end_action is null))
)
select *
from result
order by kind, subject, account_id nulls first

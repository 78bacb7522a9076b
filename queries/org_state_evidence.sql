-- title: Every sign in the logs of what the organization's access state was at a moment
-- description: One row per piece of evidence of a state: each successful call that sets one
-- (is_change true; see org_state_calls), and each observation of a state that sets nothing
-- (is_change false): the root access feature calls' responses listing every feature then
-- enabled, trusted access for iam.amazonaws.com that a successful enable of a root access
-- feature needs, and membership of each account an organization trail delivers, from its
-- first delivered event (event_id empty). active is the state shown: on, registered, exists,
-- member, or the opposite. org_state_intervals turns these into intervals.
-- inputs: org_state_calls, org_events, org_trail_members
-- outputs: event_id, event_time, kind, subject, account_id, active, is_change, action, actor,
-- actor_account
-- tags: organization, state, evidence

with
/* org_events, read once: DuckDB computes a view each time a query names it,
   a CTE named more than once only once */
org as (
    select *
    from org_events
),
/* Observations of a state that set nothing: they show what held at that moment.
   - The root access feature calls answer with every feature then enabled (API reference,
     EnabledFeatures), which shows the other feature's state.
   - Those features need trusted access for iam.amazonaws.com: the IAM API reference lists it
     as a prerequisite (error ServiceAccessNotEnabled), and the Organizations User Guide page
     "AWS Identity and Access Management and AWS Organizations" says enabling root access
     management enables trusted access for IAM. Either way it was on when an enable succeeded.
   - An account whose events an organization trail delivers is in the organization. */
attested as (
    select
        e.event_id,
        e.event_time,
        'root_feature' as kind,
        f.feature as subject,
        cast(null as varchar) as account_id,
        e.r_enabled_features like ('%"' || f.feature || '"%') as active,
        e.event_name || ' response' as action,
        e.actor,
        e.actor_account
    from org e
    join (
        select 'RootCredentialsManagement' as feature
        union all
        select 'RootSessions'
    ) f
        on f.feature <> replace(replace(e.event_name, 'EnableOrganizations', ''),
                                'DisableOrganizations', '')
    where e.succeeded
      and e.event_name like '%OrganizationsRoot%'
      and e.r_enabled_features is not null
    union all
    select event_id, event_time, 'trusted_access', 'iam.amazonaws.com', null, true,
           event_name || ' (needs trusted access)', actor, actor_account
    from org
    where succeeded and event_name like 'EnableOrganizationsRoot%'
    union all
    select null, min(first_seen), 'membership', 'organization', account_id, true,
           'organization trail delivery', null, null
    from org_trail_members
    group by account_id
),
result as (
    select event_id, event_time, kind, subject, account_id, effect as active,
           true as is_change, action, actor, actor_account
    from org_state_calls
    where succeeded and effect is not null
    union all
    select event_id, event_time, kind, subject, account_id, active,
           false, action, actor, actor_account
    from attested
)
select *
from result
order by kind, subject, account_id nulls first, event_time, is_change desc, event_id nulls last

-- title: The management account and organization ID: what the logs show, where they contradict you
-- description: One row per way the logs reveal the management account (successful calls only
-- the management account may make, handshake ARNs, DescribeOrganization responses when
-- logged) or the organization ID (organization trail paths AWSLogs/<o-id>/, root access
-- feature responses, DescribeOrganization responses, handshake ARNs), with when and how often
-- (observations counts events, or files for trail paths), plus one row per value you state.
-- State them with $management_account and $organization_id (empty: not stated). verdict:
-- 'agrees with the stated value', 'contradicts the stated value', 'observed' (nothing
-- stated), 'the logs name more than one' (nothing stated, the logs disagree); on a stated row
-- 'confirmed by the logs', 'contradicted by the logs' or 'not seen in the logs'.
-- inputs: org_management_evidence, org_trail_members, org_events
-- outputs: fact, value, source, first_seen, last_seen, observations, example_evidence, verdict
-- params: management_account, organization_id
-- tags: organization, identity, contradictions

with
/* org_events, read once: DuckDB computes a view each time a query names it,
   a CTE named more than once only once */
org as (
    select *
    from org_events
),
sightings as (
    select 'management_account' as fact, account_id as value, source,
           event_time as first_seen, event_time as last_seen, 1 as weight,
           event_id as evidence
    from org_management_evidence
    union all
    select 'organization_id', organization_id, 'organization trail path',
           first_seen, last_seen, files, example_key
    from org_trail_members
    union all
    select 'organization_id', r_organization_id,
           case when event_name = 'DescribeOrganization' then 'DescribeOrganization response'
                else 'root access feature response' end,
           event_time, event_time, 1, event_id
    from org
    where succeeded and r_organization_id is not null
    union all
    select 'organization_id', split_part(split_part(r_handshake_arn, ':', 6), '/', 2),
           'handshake ARN', event_time, event_time, 1, event_id
    from org
    where r_handshake_arn like 'arn:%:organizations::%:handshake/o-%'
),
ranked as (
    select
        *,
        row_number() over (
            partition by fact, value, source order by first_seen, evidence) as n
    from sightings
),
observed as (
    select
        fact,
        value,
        source,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        cast(sum(weight) as bigint) as observations,
        max(case when n = 1 then evidence end) as example_evidence
    from ranked
    group by fact, value, source
),
stated as (
    select 'management_account' as fact,
           nullif(trim(coalesce(cast($management_account as varchar), '')), '') as value
    union all
    select 'organization_id',
           nullif(trim(coalesce(cast($organization_id as varchar), '')), '')
),
values_per_fact as (
    select fact, count(distinct value) as n_values
    from observed
    group by fact
),
result as (
    select
        o.fact,
        o.value,
        o.source,
        o.first_seen,
        o.last_seen,
        o.observations,
        o.example_evidence,
        case
            when s.value is not null and o.value = s.value then 'agrees with the stated value'
            when s.value is not null then 'contradicts the stated value'
            when v.n_values > 1 then 'the logs name more than one'
            else 'observed'
        end as verdict
    from observed o
    join stated s on s.fact = o.fact
    join values_per_fact v on v.fact = o.fact
    union all
    select
        s.fact,
        s.value,
        'stated by the user',
        cast(null as timestamptz),
        cast(null as timestamptz),
        cast(null as bigint),
        cast(null as varchar),
        case
            when count(o.value) = 0 then 'not seen in the logs'
            when count(case when o.value = s.value then 1 end) > 0 then 'confirmed by the logs'
            else 'contradicted by the logs'
        end
    from stated s
    left join observed o on o.fact = s.fact
    where s.value is not null
    group by s.fact, s.value
)
select *
from result
order by fact, value, source

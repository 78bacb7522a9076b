-- title: What each identity did: events, APIs that succeeded and failed, regions, IPs, keys
-- description: One row per identity (the caller's ARN; for callers without one, such as SAML
-- or web identity callers, AWS services and AWSAccount principals, the principal ID or the
-- invoking service), summing up the events the timeline selects with the same parameters
-- (timeline_events; all null: every identity), without its mint and copy rows (context: calls
-- made by others, or a call counted once already). apis_succeeded and
-- apis_failed are lists of service:EventName, the failed ones with their error codes; regions,
-- source_ips, user_agents, access_keys and accounts (the accounts that received the events)
-- are lists of the distinct values, sorted (null: none); origins are the distinct lineage origins of the keys used
-- (origin_kind origin, see credential_lineage). Sorted by events, most first.
-- inputs: timeline_events, events, credential_lineage
-- outputs: identity, identity_type, account_id, events, failed_events, first_seen, last_seen,
-- apis_succeeded, apis_failed, regions, source_ips, user_agents, access_keys, accounts, origins
-- params: access_key, principal, principal_like, session, ip, account, since, until, follow
-- tags: pivots, identities, credentials

with
/* the events selected, each once; the mint rows are calls made by others */
reasons as (
    select event_id
    from timeline_events
    where reached in ('pivot', 'follow')
),
picked as (
    select
        coalesce(e.identity_arn, e.principal_id, e.invoked_by, e.identity_account_id,
                 '(no identity)') as identity,
        e.identity_type,
        coalesce(e.identity_account_id, e.recipient_account_id) as account_id,
        e.event_time,
        e.error_code,
        replace(e.event_source, '.amazonaws.com', '') || ':' || e.event_name as api,
        e.aws_region,
        e.source_ip,
        e.user_agent,
        nullif(e.access_key_id, '') as access_key_id,
        e.recipient_account_id,
        l.origin_kind || ' ' || l.origin as origin
    from reasons as r
    join events as e on e.event_id = r.event_id
    left join credential_lineage as l on l.access_key_id = e.access_key_id
)
/* the distinct values as sorted lists (a user agent can hold any separator): DuckDB's
   list(distinct x order by x), Spark's array_sort(collect_set(x)) */
select
    identity,
    min(identity_type) as identity_type,
    min(account_id) as account_id,
    count(*) as events,
    count(*) filter (where error_code is not null) as failed_events,
    min(event_time) as first_seen,
    max(event_time) as last_seen,
    list(distinct api order by api) filter (where error_code is null) as apis_succeeded,
    list(distinct api || ' (' || error_code || ')' order by api || ' (' || error_code || ')')
        filter (where error_code is not null) as apis_failed,
    list(distinct aws_region order by aws_region) as regions,
    list(distinct source_ip order by source_ip) filter (where source_ip is not null)
        as source_ips,
    list(distinct user_agent order by user_agent) filter (where user_agent is not null)
        as user_agents,
    list(distinct access_key_id order by access_key_id) filter (where access_key_id is not null)
        as access_keys,
    list(distinct recipient_account_id order by recipient_account_id) as accounts,
    list(distinct origin order by origin) filter (where origin is not null) as origins
from picked
group by identity
order by events desc, identity

-- title: What each identity did: events, APIs that succeeded and failed, regions, IPs, keys
-- description: One row per identity (the caller's ARN; for callers without one, such as SAML
-- or web identity callers, AWS services and AWSAccount principals, the principal ID or the
-- invoking service), summing up the events the pivots select, as the timeline module does and
-- with the same parameters (all null: every identity), without the timeline's mint and copy
-- rows (context: calls made by others, or a call counted once already). apis_succeeded and
-- apis_failed are service:EventName, the failed ones with their error codes; regions,
-- source_ips, user_agents, access_keys and accounts (the accounts that received the events)
-- are the distinct values, sorted; origins are the distinct lineage origins of the keys used
-- (origin_kind origin, see credential_lineage). Sorted by events, most first.
-- inputs: events, credential_keys, credential_chains, credential_lineage
-- outputs: identity, identity_type, account_id, events, failed_events, first_seen, last_seen,
-- apis_succeeded, apis_failed, regions, source_ips, user_agents, access_keys, accounts, origins
-- params: access_key, principal, principal_like, session, ip, account, since, until, follow
-- tags: pivots, identities, credentials

with
/* pivots, to the end marker: the same in timeline (a test checks) */
matched as (
    select
        event_id,
        access_key_id
    from events
    where ($access_key is null or access_key_id = $access_key)
      and ($principal is null or identity_arn = $principal or principal_id = $principal
           or session_issuer_arn = $principal or invoked_by = $principal)
      and ($principal_like is null
           or instr(lower(identity_arn), lower($principal_like)) > 0
           or instr(lower(principal_id), lower($principal_like)) > 0
           or instr(lower(session_issuer_arn), lower($principal_like)) > 0
           or instr(lower(user_name), lower($principal_like)) > 0
           or instr(lower(invoked_by), lower($principal_like)) > 0)
      and ($session is null or identity_arn = $session or access_key_id = $session
           or access_key_id in (select access_key_id from credential_keys
                                where mint_event_id = $session))
      and ($ip is null or source_ip = $ip)
      and ($account is null or recipient_account_id = $account
           or identity_account_id = $account)
),
seed_keys as (
    select distinct access_key_id
    from matched
    where access_key_id <> ''
),
followed as (
    select
        c.access_key_id,
        min(c.hop) as hop
    from credential_chains as c
    join seed_keys as s on s.access_key_id = c.ancestor_access_key_id
    where coalesce(cast($follow as boolean), false)
      and c.hop > 0
    group by c.access_key_id
),
selected as (
    select event_id, 'pivot' as reached, 0 as hop, 1 as rank
    from matched
    union all
    select e.event_id, 'follow' as reached, f.hop, 2 as rank
    from events as e
    join followed as f on f.access_key_id = e.access_key_id
    union all
    /* a key asked for by name shows how it was issued, even if it signed nothing */
    select k.mint_event_id as event_id, 'mint' as reached, cast(null as integer) as hop, 3 as rank
    from credential_keys as k
    where k.mint_event_id is not null
      and (k.access_key_id in (select access_key_id from seed_keys)
           or k.access_key_id = $access_key or k.access_key_id = $session
           or k.mint_event_id = $session)
    /* end of pivots */
),
/* the events selected, each once; the mint rows are calls made by others */
reasons as (
    select distinct event_id
    from selected
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
    where (cast($since as timestamptz) is null or e.event_time >= cast($since as timestamptz))
      and (cast($until as timestamptz) is null or e.event_time <= cast($until as timestamptz))
)
/* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
select
    identity,
    min(identity_type) as identity_type,
    min(account_id) as account_id,
    count(*) as events,
    count(*) filter (where error_code is not null) as failed_events,
    min(event_time) as first_seen,
    max(event_time) as last_seen,
    string_agg(distinct api, ', ' order by api) filter (where error_code is null)
        as apis_succeeded,
    string_agg(distinct api || ' (' || error_code || ')', ', '
               order by api || ' (' || error_code || ')') filter (where error_code is not null)
        as apis_failed,
    string_agg(distinct aws_region, ', ' order by aws_region) as regions,
    string_agg(distinct source_ip, ', ' order by source_ip) as source_ips,
    string_agg(distinct user_agent, ' | ' order by user_agent) as user_agents,
    string_agg(distinct access_key_id, ', ' order by access_key_id) as access_keys,
    string_agg(distinct recipient_account_id, ', ' order by recipient_account_id) as accounts,
    string_agg(distinct origin, ', ' order by origin) as origins
from picked
group by identity
order by events desc, identity

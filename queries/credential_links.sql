-- title: The access keys the lineage walk from a pivot can reach in a step: what each is, and the call that issued it
-- description: One row per access key (one more for each further call whose response holds it)
-- that the walk in credential_keys can reach in one step: the keys of a pivot's events
-- (pivot_events) and those it names (seed is true); with a pivot, the keys that signed an
-- issuing call (credential_mints: where the walk up can go), and with follow the keys those
-- calls issued, in their response or acting as the role session one started within a minute
-- (where the walk down can go); without a pivot (all null) every key. Looked up here once, so
-- that the walk is a plain join (Spark's recursive steps take no aggregate, ranking or
-- DISTINCT, and compute again at each step what they read that is not kept). The columns are
-- credential_keys', with seed; see there what they mean.
-- inputs: events, credential_mints, pivot_events
-- outputs: access_key_id, seed, key_kind, identity_type, identity_arn, principal_id, account_id,
-- session_created_at, source_identity, from_console, assumed_root, events, failed_events,
-- first_used, last_used, source_ips, link, mint_event_id, mint_event_name, minted_at,
-- parent_access_key_id, minted_by_type, minted_by
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null, follow = null
-- tags: credentials, lineage

with
pivoted as (
    select coalesce($access_key, $principal, $principal_like, $session, $ip, $account) is not null
        as walk
),
/* where to start: without a pivot every key, else the keys the pivot names or selects */
seeds as (
    select distinct access_key_id
    from pivot_events
    where access_key_id <> ''
    union
    select access_key_id
    from credential_mints
    where not (select walk from pivoted)
       or access_key_id in ($access_key, $session)
       or mint_event_id = $session
),
/* the keys to look up: the seeds; with a pivot, the keys that signed an issuing call (where
   the walk up can go), and with follow the keys those calls issued (where the walk down can go):
   in the call's response, or acting as the role session it started, created within a minute of
   it (the console mints further keys for one session) */
candidates as (
    select access_key_id, bool_or(seed) as seed
    from (
        select access_key_id, true as seed
        from seeds
        union all
        select caller_access_key_id, false
        from credential_mints
        where caller_access_key_id is not null
          and (select walk from pivoted)
        union all
        select access_key_id, false
        from credential_mints
        where coalesce(cast($follow as boolean), false)
          and (select walk from pivoted)
        union all
        select e.access_key_id, false
        from credential_mints as m
        join events as e
            on e.identity_arn = m.issued_arn
            and abs(epoch(m.minted_at) - epoch(e.session_created_at)) <= 60
        where coalesce(cast($follow as boolean), false)
          and (select walk from pivoted)
          and e.identity_type in ('AssumedRole', 'FederatedUser')
          and e.access_key_id not in ('', m.access_key_id)
    ) as c
    group by access_key_id
),
/* a column scan of events, no JSON: one row per key looked up that signed anything */
usage as (
    select
        access_key_id,
        min(identity_type) as identity_type,
        min(identity_arn) as identity_arn,
        min(principal_id) as principal_id,
        min(identity_account_id) as account_id,
        min(session_created_at) as session_created_at,
        max(source_identity) as source_identity,
        coalesce(bool_or(session_credential_from_console), false) as from_console,
        coalesce(bool_or(assumed_root), false) as assumed_root,
        count(*) as events,
        count(*) filter (where error_code is not null) as failed_events,
        min(event_time) as first_used,
        max(event_time) as last_used,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(distinct source_ip, ', ' order by source_ip) as source_ips
    from events
    where access_key_id in (select access_key_id from candidates)
    group by access_key_id
),
keys as (
    select
        k.access_key_id,
        k.seed,
        case
            when k.access_key_id like 'AKIA%' then 'long_term'
            when k.access_key_id like 'ASIA%' then 'temporary'
            else 'unknown'
        end as key_kind,
        coalesce(u.identity_type, m.issued_type) as identity_type,
        coalesce(u.identity_arn, m.issued_arn) as identity_arn,
        u.principal_id,
        coalesce(u.account_id, m.issued_account_id) as account_id,
        coalesce(u.session_created_at, m.minted_at) as session_created_at,
        coalesce(u.source_identity, m.source_identity) as source_identity,
        coalesce(u.from_console, false) as from_console,
        coalesce(u.assumed_root, false) as assumed_root,
        coalesce(u.events, 0) as events,
        coalesce(u.failed_events, 0) as failed_events,
        u.first_used,
        u.last_used,
        u.source_ips,
        m.access_key_id as response_key
    from candidates as k
    left join usage as u on u.access_key_id = k.access_key_id
    /* the call whose response holds the key, at the key's creationDate (within a minute, as
       the other links); STS issues no long-term key (AKIA: GetAccessKeyInfo,
       https://docs.aws.amazon.com/STS/latest/APIReference/API_GetAccessKeyInfo.html) */
    left join credential_mints as m
        on m.access_key_id = k.access_key_id
        and k.access_key_id not like 'AKIA%'
        and coalesce(abs(epoch(m.minted_at) - epoch(u.session_created_at)) <= 60, true)
),
/* keys of a session an issuing call started, though not in its response */
session_links as (
    select
        k.access_key_id,
        m.access_key_id as minted_key,
        row_number() over (
            partition by k.access_key_id
            order by abs(epoch(m.minted_at) - epoch(k.session_created_at)), m.minted_at,
                     m.access_key_id) as nearest
    from (select distinct access_key_id, identity_type, identity_arn, session_created_at
          from keys
          where response_key is null) as k
    join credential_mints as m
        on m.issued_arn = k.identity_arn
        and m.mint_event_name in ('AssumeRole', 'AssumeRoleWithSAML',
                                  'AssumeRoleWithWebIdentity', 'GetFederationToken')
        and abs(epoch(m.minted_at) - epoch(k.session_created_at)) <= 60
    where k.identity_type in ('AssumedRole', 'FederatedUser')
),
linked as (
    select
        k.*,
        coalesce(k.response_key, s.minted_key) as minting_key,
        case
            when k.response_key is not null then 'response'
            when s.minted_key is not null then 'session'
        end as link
    from keys as k
    left join session_links as s on s.access_key_id = k.access_key_id and s.nearest = 1
)
select
    l.access_key_id,
    l.seed,
    l.key_kind,
    l.identity_type,
    l.identity_arn,
    l.principal_id,
    l.account_id,
    l.session_created_at,
    l.source_identity,
    l.from_console,
    l.assumed_root,
    l.events,
    l.failed_events,
    l.first_used,
    l.last_used,
    l.source_ips,
    l.link,
    m.mint_event_id,
    m.mint_event_name,
    m.minted_at,
    m.caller_access_key_id as parent_access_key_id,
    m.caller_type as minted_by_type,
    coalesce(m.caller_arn, m.identity_provider, m.caller_invoked_by,
             m.caller_principal_id || ' (' || m.caller_account_id || ')') as minted_by
from linked as l
left join credential_mints as m on m.access_key_id = l.minting_key
order by access_key_id

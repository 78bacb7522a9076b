-- title: Every access key in the logs, or those a pivot reaches: who it acts as, where it was used, and what issued it
-- description: One row per access key that signed an event or that STS issued
-- (credential_mints); with a pivot (the timeline's parameters; all null: every key) only the
-- keys it reaches: those of its events (pivot_events), the keys up their chains of issuing
-- calls to the origin and, with follow, the keys issued from them hop after hop. The walk looks
-- up each key as it reaches it, and no other. key_kind is long_term (AKIA: an IAM user's or the
-- root user's key), temporary (ASIA) or unknown (another prefix, as in redacted logs). The
-- identity columns come from the events signed with the key, or from the issuing call for a
-- key never used; events, failed_events, first_used, last_used and source_ips sum up its use.
-- link says how the key is tied to the event that issued it (mint_event_id): response, the key
-- is in that call's response, made within 60 seconds of the key's creationDate (STS never
-- issues a long-term key); session, the key is not in any response but acts as a role or
-- federated session whose ARN an issuing call named, and its sessionContext creationDate is
-- within 60 seconds of that call (the console mints further keys for one session);
-- console_login, an IAM user's or the root user's console session key, tied to the successful
-- ConsoleLogin of the same ARN nearest its creationDate, within 60 seconds (a console sign-in
-- returns no key); empty when no event in the logs issued it. parent_access_key_id is the key
-- the issuing call was signed with; minted_by_type and minted_by say who made that call (its
-- ARN, the SAML or web identity provider, the AWS service, or the AWSAccount principal).
-- inputs: events, event_store, credential_mints, pivot_events
-- outputs: access_key_id, key_kind, identity_type, identity_arn, principal_id, account_id,
-- session_created_at, source_identity, from_console, events, failed_events, first_used,
-- last_used, source_ips, link, mint_event_id, mint_event_name, minted_at,
-- parent_access_key_id, minted_by_type, minted_by
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null, follow = null
-- tags: credentials, lineage

with recursive
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
    select access_key_id
    from seeds
    union
    select caller_access_key_id
    from credential_mints
    where caller_access_key_id is not null
      and (select walk from pivoted)
    union
    select access_key_id
    from credential_mints
    where coalesce(cast($follow as boolean), false)
      and (select walk from pivoted)
    union
    select e.access_key_id
    from credential_mints as m
    join events as e
        on e.identity_arn = m.issued_arn
        and abs(epoch(m.minted_at) - epoch(e.session_created_at)) <= 60
    where coalesce(cast($follow as boolean), false)
      and (select walk from pivoted)
      and e.identity_type in ('AssumedRole', 'FederatedUser')
      and e.access_key_id not in ('', m.access_key_id)
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
),
/* each key looked up: what it is, and the call that issued it */
identified as (
    select
        l.access_key_id,
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
),
/* from a key, up to the key that signed the call that issued it, and with follow down to the
   keys issued by calls it signed */
steps(from_key, to_key, direction) as (
    select access_key_id, parent_access_key_id, 'up'
    from identified
    where parent_access_key_id is not null
    union all
    select parent_access_key_id, access_key_id, 'down'
    from identified
    where parent_access_key_id is not null
      and coalesce(cast($follow as boolean), false)
),
/* One row per key reached on a path from a seed: up, or with follow down, never both on one
   path; the walk stops before a key already on its path, and after 16 hops. A plain join at
   each hop, so that Spark runs it too (its recursive steps take no aggregate, ranking or
   DISTINCT); what the keys are is looked up once, above. Console sign-ins are looked up after
   it: a console key has no parent to walk to. */
walk(access_key_id, from_key, direction, hop, path) as (
    select access_key_id, cast(null as varchar), 'seed', 0, '|' || access_key_id || '|'
    from seeds
    union all
    select s.to_key, s.from_key, s.direction, w.hop + 1, w.path || s.to_key || '|'
    from walk as w
    join steps as s on s.from_key = w.access_key_id
    where w.direction in ('seed', s.direction)
      and w.hop < 16
      and (select walk from pivoted)
      and instr(w.path, '|' || s.to_key || '|') = 0
),
/* a key walked down to is the one its walk came by: issued from that key */
found as (
    select distinct i.*
    from (select distinct access_key_id, from_key, direction from walk) as w
    join identified as i
        on i.access_key_id = w.access_key_id
        and (w.direction <> 'down' or i.parent_access_key_id = w.from_key)
),
/* console session keys no call issued, and the sign-ins of their users within a minute of their
   creation: stored columns only, so that only these sign-ins' records are read */
console_keys as (
    select access_key_id, identity_arn, session_created_at
    from found
    where link is null
      and key_kind <> 'long_term'
      and identity_type in ('IAMUser', 'Root')
      and not assumed_root
),
sign_ins as materialized (
    select
        k.access_key_id,
        s.event_id,
        s.event_time,
        s.identity_type,
        s.identity_arn,
        abs(epoch(s.event_time) - epoch(k.session_created_at)) as distance
    from console_keys as k
    join events as s
        on s.identity_arn = k.identity_arn
        and abs(epoch(s.event_time) - epoch(k.session_created_at)) <= 60
    where s.event_source = 'signin.amazonaws.com'
      and s.event_name = 'ConsoleLogin'
      and s.identity_type in ('IAMUser', 'Root')
),
/* their outcome, from the record text (DuckDB's json_extract_string; the events view would
   type it JSON first). Only their records are read: DuckDB filters the scan by the join's times
   (materialized, or it would test every sign-in's record first). */
outcomes as materialized (
    select
        s.event_id,
        json_extract_string(s.record, '$.responseElements.ConsoleLogin') as outcome
    from event_store as s
    join (select distinct event_time from sign_ins) as t on t.event_time = s.event_time
    where s.event_source = 'signin.amazonaws.com'
      and s.event_name = 'ConsoleLogin'
),
/* the nearest each key's creationDate; epoch(): Spark's unix_timestamp */
console_links as (
    select
        i.*,
        row_number() over (
            partition by i.access_key_id order by i.distance, i.event_time, i.event_id
        ) as nearest
    from sign_ins as i
    join outcomes as o on o.event_id = i.event_id
    where o.outcome = 'Success'
)
select
    f.access_key_id,
    f.key_kind,
    f.identity_type,
    f.identity_arn,
    f.principal_id,
    f.account_id,
    f.session_created_at,
    f.source_identity,
    f.from_console,
    f.events,
    f.failed_events,
    f.first_used,
    f.last_used,
    f.source_ips,
    coalesce(f.link, case when c.event_id is not null then 'console_login' end) as link,
    coalesce(f.mint_event_id, c.event_id) as mint_event_id,
    coalesce(f.mint_event_name, case when c.event_id is not null then 'ConsoleLogin' end)
        as mint_event_name,
    coalesce(f.minted_at, c.event_time) as minted_at,
    f.parent_access_key_id,
    coalesce(f.minted_by_type, c.identity_type) as minted_by_type,
    coalesce(f.minted_by, c.identity_arn) as minted_by
from found as f
left join console_links as c on c.access_key_id = f.access_key_id and c.nearest = 1
order by f.access_key_id

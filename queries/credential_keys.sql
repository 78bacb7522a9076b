-- title: Every access key in the logs, or those a pivot reaches: who it acts as, where it was used, and what issued it
-- description: One row per access key that signed an event or that STS issued
-- (credential_mints); with a pivot (the timeline's parameters; all null: every key) only the
-- keys it reaches: those of its events (pivot_events), the keys up their chains of issuing
-- calls to the origin and, with follow, the keys issued from them hop after hop, walked over
-- what credential_links looked up. key_kind is long_term (AKIA: an IAM user's or the
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
-- inputs: events, event_store, credential_links
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
/* from a key, up to the key that signed the call that issued it, and with follow down to the
   keys issued by calls it signed */
steps(from_key, to_key, direction) as (
    select access_key_id, parent_access_key_id, 'up'
    from credential_links
    where parent_access_key_id is not null
    union all
    select parent_access_key_id, access_key_id, 'down'
    from credential_links
    where parent_access_key_id is not null
      and coalesce(cast($follow as boolean), false)
),
/* One row per key reached on a path from a seed: up, or with follow down, never both on one
   path; the walk stops before a key already on its path, and after 16 hops. A plain join at
   each hop, so that Spark runs it too (its recursive steps take no aggregate, ranking or
   DISTINCT); what the keys are is looked up once, in credential_links. Console sign-ins are
   looked up after it: a console key has no parent to walk to. */
walk(access_key_id, from_key, direction, hop, path) as (
    select distinct access_key_id, cast(null as varchar), 'seed', 0, '|' || access_key_id || '|'
    from credential_links
    where seed
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
    select distinct i.* exclude (seed)
    from (select distinct access_key_id, from_key, direction from walk) as w
    join credential_links as i
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

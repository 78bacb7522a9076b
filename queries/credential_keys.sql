-- title: Every access key in the logs: who it acts as, where it was used, and what issued it
-- description: One row per access key that signed an event or that STS issued
-- (credential_mints). key_kind is long_term (AKIA: an IAM user's or the root user's key),
-- temporary (ASIA) or unknown (another prefix, as in redacted logs). The identity columns
-- come from the events signed with the key, or from the issuing call for a key never used;
-- events, failed_events, first_used, last_used and source_ips sum up its use. link says how the
-- key is tied to the event that issued it (mint_event_id): response, the key is in that
-- call's response; session, the key is not in any response but acts as a role or federated
-- session whose ARN an issuing call named, and its sessionContext creationDate is within 60
-- seconds of that call (the console mints further keys for one session); console_login, an
-- IAM user's or the root user's console session key, tied to the successful ConsoleLogin of
-- the same ARN nearest its creationDate, within 60 seconds (a console sign-in returns no
-- key); empty when no event in the logs issued it. parent_access_key_id is the key the
-- issuing call was signed with; minted_by_type and minted_by say who made that call (its ARN,
-- the SAML or web identity provider, the AWS service, or the AWSAccount principal).
-- inputs: events, credential_mints
-- outputs: access_key_id, key_kind, identity_type, identity_arn, principal_id, account_id,
-- session_created_at, source_identity, from_console, events, failed_events, first_used,
-- last_used, source_ips, link, mint_event_id, mint_event_name, minted_at,
-- parent_access_key_id, minted_by_type, minted_by
-- tags: credentials, lineage

with
/* a column scan of events, no JSON: one row per key that signed anything */
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
    where access_key_id <> ''
    group by access_key_id
),
all_keys as (
    select access_key_id from usage
    union
    select access_key_id from credential_mints
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
        m.mint_event_id
    from all_keys as k
    left join usage as u on u.access_key_id = k.access_key_id
    left join credential_mints as m on m.access_key_id = k.access_key_id
),
/* DuckDB JSON path (->>) on ConsoleLogin rows only; epoch(): Spark's unix_timestamp */
logins as (
    select
        event_id,
        event_time,
        identity_type,
        identity_arn
    from events
    where event_source = 'signin.amazonaws.com'
      and event_name = 'ConsoleLogin'
      and identity_type in ('IAMUser', 'Root')
      and response_elements ->> '$.ConsoleLogin' = 'Success'
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
    from keys as k
    join credential_mints as m
        on m.issued_arn = k.identity_arn
        and m.mint_event_name in ('AssumeRole', 'AssumeRoleWithSAML',
                                  'AssumeRoleWithWebIdentity', 'GetFederationToken')
        and abs(epoch(m.minted_at) - epoch(k.session_created_at)) <= 60
    where k.mint_event_id is null
      and k.identity_type in ('AssumedRole', 'FederatedUser')
),
console_links as (
    select
        k.access_key_id,
        l.event_id,
        l.event_time,
        l.identity_type,
        l.identity_arn,
        row_number() over (
            partition by k.access_key_id
            order by abs(epoch(l.event_time) - epoch(k.session_created_at)), l.event_time,
                     l.event_id) as nearest
    from keys as k
    join logins as l
        on l.identity_arn = k.identity_arn
        and abs(epoch(l.event_time) - epoch(k.session_created_at)) <= 60
    where k.mint_event_id is null
      and k.key_kind <> 'long_term'
      and k.identity_type in ('IAMUser', 'Root')
      and not k.assumed_root
),
linked as (
    select
        k.*,
        coalesce(m.access_key_id, s.minted_key) as minting_key,
        case
            when m.access_key_id is not null then 'response'
            when s.minted_key is not null then 'session'
            when c.event_id is not null then 'console_login'
        end as link,
        c.event_id as login_event_id,
        c.event_time as login_time,
        c.identity_type as login_type,
        c.identity_arn as login_arn
    from keys as k
    left join credential_mints as m on m.access_key_id = k.access_key_id
    left join session_links as s on s.access_key_id = k.access_key_id and s.nearest = 1
    left join console_links as c on c.access_key_id = k.access_key_id and c.nearest = 1
)
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
    l.events,
    l.failed_events,
    l.first_used,
    l.last_used,
    l.source_ips,
    l.link,
    coalesce(m.mint_event_id, l.login_event_id) as mint_event_id,
    case when l.link = 'console_login' then 'ConsoleLogin' else m.mint_event_name end
        as mint_event_name,
    coalesce(m.minted_at, l.login_time) as minted_at,
    m.caller_access_key_id as parent_access_key_id,
    coalesce(m.caller_type, l.login_type) as minted_by_type,
    coalesce(m.caller_arn, m.identity_provider, m.caller_invoked_by,
             m.caller_principal_id || ' (' || m.caller_account_id || ')', l.login_arn)
        as minted_by
from linked as l
left join credential_mints as m on m.access_key_id = l.minting_key
order by l.access_key_id

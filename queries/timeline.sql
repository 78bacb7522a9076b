-- title: Everything connected to one access key, principal, session, IP or account, in time order
-- description: The events that match every pivot given (a parameter left null matches
-- everything): access_key, the key that signed the event; principal, exactly the caller's ARN,
-- principal ID, session issuer (a role's ARN finds all its sessions) or invoking service;
-- principal_like, a case-insensitive substring of those or of the user name; session, a role
-- or federated session ARN, an access key, or the eventID of the call that issued the keys
-- (an AssumeRoot session's ID); ip, the source IP exactly; account, the account that received
-- the event or owns the caller. reached says why a row is here: pivot (it matches); follow,
-- with follow true (signed with a key issued, hop after hop, from a pivot row's key: everything
-- done downstream of it; hop counts the issuing calls between); mint (the call or console
-- sign-in that issued a pivot row's key or the key asked for, whoever made it); copy (the same
-- call as another account logged it: a cross-account call's other copy, same sharedEventID).
-- since and until bound the rows returned, not what is followed. Each row carries the lineage
-- of its key (credential_lineage: origin_kind, origin, origin_in_logs, depth) and, for an
-- issuing call, the key it issued and the identity that key acts as.
-- inputs: events, credential_keys, credential_chains, credential_lineage, credential_mints
-- outputs: event_time, event_id, reached, hop, account_id, aws_region, event_source,
-- event_name, error_code, identity_type, identity_arn, access_key_id, source_ip, user_agent,
-- source_identity, issued_access_key_id, issued_arn, origin_kind, origin, origin_in_logs, depth
-- params: access_key, principal, principal_like, session, ip, account, since, until, follow
-- tags: pivots, timeline, credentials

with
/* the events the pivots select (identity_summary reads this module's rows) */
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
),
/* the same call as another account logged it (a cross-account call: one sharedEventID) */
copies as (
    select c.event_id, 'copy' as reached, cast(null as integer) as hop, 4 as rank
    from events as c
    join (select distinct e.shared_event_id
          from selected as s
          join events as e on e.event_id = s.event_id
          where e.shared_event_id is not null) as shared
        on shared.shared_event_id = c.shared_event_id
),
/* one row per event: the strongest reason it is here */
reasons as (
    select
        event_id,
        min_by(reached, rank) as reached,
        min_by(hop, rank) as hop
    from (select * from selected union all select * from copies) as s
    group by event_id
)
select
    e.event_time,
    e.event_id,
    r.reached,
    r.hop,
    e.recipient_account_id as account_id,
    e.aws_region,
    e.event_source,
    e.event_name,
    e.error_code,
    e.identity_type,
    e.identity_arn,
    e.access_key_id,
    e.source_ip,
    e.user_agent,
    coalesce(e.source_identity, l.source_identity) as source_identity,
    m.access_key_id as issued_access_key_id,
    m.issued_arn,
    l.origin_kind,
    l.origin,
    l.origin_in_logs,
    l.depth
from reasons as r
join events as e on e.event_id = r.event_id
left join credential_lineage as l on l.access_key_id = e.access_key_id
left join credential_mints as m on m.mint_event_id = e.event_id
where (cast($since as timestamptz) is null or e.event_time >= cast($since as timestamptz))
  and (cast($until as timestamptz) is null or e.event_time <= cast($until as timestamptz))
order by e.event_time, e.event_id

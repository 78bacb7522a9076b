-- title: Everything connected to one access key, principal, session, IP or account, in time order
-- description: The events that match every pivot given (pivot_events: a parameter left null
-- matches everything): access_key, the key that signed the event; principal, exactly the
-- caller's ARN, principal ID, session issuer (a role's ARN finds all its sessions) or invoking
-- service; principal_like, a case-insensitive substring of those or of the user name; session,
-- a role or federated session ARN, an access key, or the eventID of the call that issued the
-- keys (an AssumeRoot session's ID); ip, the source IP exactly; account, the account that
-- received the event or owns the caller. reached says why a row is here: pivot (it matches);
-- follow, with follow true (signed with a key issued, hop after hop, from a pivot row's key:
-- everything done downstream of it; hop counts the issuing calls between); mint (the call or
-- console sign-in that issued a pivot row's key or the key asked for, whoever made it); copy
-- (the same call as another account logged it: a cross-account call's other copy, same
-- sharedEventID). since and until bound the rows returned, not what is followed. Each row
-- carries the lineage of its key (credential_lineage: origin_kind, origin, origin_in_logs,
-- depth), computed for the keys the pivot reaches only, and, for an issuing call, the key it
-- issued and the identity that key acts as.
-- inputs: timeline_events, events, credential_lineage, credential_mints
-- outputs: event_time, event_id, reached, hop, account_id, aws_region, event_source,
-- event_name, error_code, identity_type, identity_arn, access_key_id, source_ip, user_agent,
-- source_identity, issued_access_key_id, issued_arn, origin_kind, origin, origin_in_logs, depth
-- params: access_key, principal, principal_like, session, ip, account, since, until, follow
-- tags: pivots, timeline, credentials

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
from timeline_events as r
join events as e on e.event_id = r.event_id
left join credential_lineage as l on l.access_key_id = e.access_key_id
left join credential_mints as m on m.mint_event_id = e.event_id
order by e.event_time, e.event_id

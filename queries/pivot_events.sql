-- title: The events that match every pivot given: an access key, principal, session, IP, account
-- description: The events the timeline and the identity summary start from (every event when
-- no pivot is given): each pivot left null matches everything. access_key, the key that signed
-- the event; principal, exactly the caller's ARN, principal ID, session issuer (a role's ARN
-- finds all its sessions) or invoking service; principal_like, a case-insensitive substring of
-- those or of the user name; session, a role or federated session ARN, an access key, or the
-- eventID of the call that issued the keys (an AssumeRoot session's ID); ip, the source IP
-- exactly; account, the account that received the event or owns the caller. The keys the call
-- $session issued can only be told once their links are known (see credential_keys): every
-- event of a key created within a minute of that call is a session_candidate, which the
-- timeline keeps when the key's mint_event_id is $session. Stored columns only, so DuckDB
-- filters as it scans.
-- inputs: events
-- outputs: event_id, event_time, access_key_id, shared_event_id, session_candidate
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null
-- tags: pivots, timeline

with
/* the call whose eventID is $session: the keys it issued were created within a minute of it */
session_call as (
    select event_time
    from events
    where event_id = $session
)
select
    event_id,
    event_time,
    access_key_id,
    shared_event_id,
    $session is not null
        and not coalesce(identity_arn = $session or access_key_id = $session, false)
        as session_candidate
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
       or exists (select 1
                  from session_call as c
                  where session_created_at between c.event_time - interval 60 second
                                               and c.event_time + interval 60 second))
  and ($ip is null or source_ip = $ip)
  and ($account is null or recipient_account_id = $account
       or identity_account_id = $account)
order by event_id

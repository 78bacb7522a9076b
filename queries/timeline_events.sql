-- title: The events a timeline holds, and why each is there
-- description: One row per event of the timeline (see timeline, which reads this module with
-- the same parameters, as identity_summary does, so the two cannot select events differently):
-- reached says why it is here, the strongest reason first: pivot (it matches every pivot
-- given, pivot_events); follow, with follow true (signed with a key issued, hop after hop,
-- from a pivot row's key; hop counts the issuing calls between); mint (the call or console
-- sign-in that issued a pivot row's key or the key asked for); copy (the same call as another
-- account logged it, same sharedEventID). since and until bound the rows, not what is
-- followed.
-- inputs: events, pivot_events, credential_keys, credential_chains
-- outputs: event_id, event_time, reached, hop
-- params: access_key, principal, principal_like, session, ip, account, since, until, follow
-- tags: pivots, timeline, credentials

with
/* the events the pivots select: a candidate of the session pivot is one when its key was issued
   by that call */
matched as (
    select
        p.event_id,
        p.event_time,
        p.access_key_id,
        p.shared_event_id
    from pivot_events as p
    left join credential_keys as k on k.access_key_id = p.access_key_id
    where not p.session_candidate
       or k.mint_event_id = $session
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
    select event_id, event_time, shared_event_id, 'pivot' as reached, 0 as hop, 1 as rank
    from matched
    union all
    select e.event_id, e.event_time, e.shared_event_id, 'follow' as reached, f.hop, 2 as rank
    from events as e
    join followed as f on f.access_key_id = e.access_key_id
    union all
    /* a key asked for by name shows how it was issued, even if it signed nothing */
    select
        e.event_id,
        e.event_time,
        e.shared_event_id,
        'mint' as reached,
        cast(null as integer) as hop,
        3 as rank
    from events as e
    join credential_keys as k on k.mint_event_id = e.event_id
    where k.access_key_id in (select access_key_id from seed_keys)
       or k.access_key_id = $access_key
       or k.access_key_id = $session
       or k.mint_event_id = $session
),
/* the same call as another account logged it (a cross-account call: one sharedEventID) */
copies as (
    select
        c.event_id,
        c.event_time,
        c.shared_event_id,
        'copy' as reached,
        cast(null as integer) as hop,
        4 as rank
    from events as c
    join (select distinct shared_event_id
          from selected
          where shared_event_id is not null) as shared
        on shared.shared_event_id = c.shared_event_id
),
/* one row per event: the strongest reason it is here */
reasons as (
    select
        event_id,
        any_value(event_time) as event_time,
        min_by(reached, rank) as reached,
        min_by(hop, rank) as hop
    from (select * from selected union all select * from copies) as s
    group by event_id
)
select
    event_id,
    event_time,
    reached,
    hop
from reasons
where (cast($since as timestamptz) is null or event_time >= cast($since as timestamptz))
  and (cast($until as timestamptz) is null or event_time <= cast($until as timestamptz))
order by event_time, event_id

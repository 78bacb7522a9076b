-- title: When the calls that issued the keys a pivot reaches can have been made
-- description: One row: first_call and last_call bound the STS calls the lineage walk from a
-- pivot's keys can reach (see credential_keys), found from stored columns alone, so that only
-- those calls' records are read (reading records is what costs). Without a pivot (the
-- timeline's parameters, all null), from the first issuing call to the last. A key is issued
-- by a call made within a minute of its creationDate (sessionContext.attributes.creationDate, "the date and time, in UTC and
-- ISO 8601 format, when the credentials were issued", in AWS's words at
-- docs.aws.amazon.com/guardduty/latest/APIReference/API_Session.html), signed by a key created
-- before it, whose creationDate that call's record carries. So the span starts from the
-- creation times of the pivot's temporary keys (STS issues no long-term key), the issuing calls
-- it selects and the call $session, and reaches back, up to 16 times, to the earliest
-- creationDate of a key that signed a call in it; with follow it runs on to the last (keys
-- issued from the pivot's come later). A key named that signed nothing, or a temporary key
-- whose records give no creationDate, leaves it unbounded: from the first call to the last.
-- inputs: events, pivot_events
-- outputs: first_call, last_call
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null, follow = null
-- tags: credentials, lineage

with recursive
pivoted as (
    select coalesce($access_key, $principal, $principal_like, $session, $ip, $account) is not null
        as walk
),
/* every issuing call, in stored columns alone */
issuing as materialized (
    select
        event_id,
        event_time,
        access_key_id,
        session_created_at
    from events
    where event_source = 'sts.amazonaws.com'
      and event_name in ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity',
                         'GetSessionToken', 'GetFederationToken', 'AssumeRoot')
      and error_code is null
),
/* the issuing calls signed with a temporary key, whose creationDate reaches further back */
signing as (
    select event_time, session_created_at
    from issuing
    where access_key_id not like 'AKIA%'
      and access_key_id <> ''
),
/* null: cannot be bounded */
starts(moment) as (
    select min(e.session_created_at)
    from events as e
    join (select distinct access_key_id from pivot_events) as k
        on k.access_key_id = e.access_key_id
    where e.access_key_id not like 'AKIA%'
      and e.access_key_id <> ''
      and (select walk from pivoted)
    group by e.access_key_id
    union all
    select i.event_time
    from issuing as i
    join pivot_events as p on p.event_id = i.event_id
    where (select walk from pivoted)
    union all
    select event_time
    from issuing
    where event_id = $session
    union all
    select cast(null as timestamptz)
    where coalesce($access_key, $session) is not null
      and not exists (select 1
                      from events
                      where access_key_id in ($access_key, $session)
                         or event_id = $session
                         or identity_arn = $session)
),
span(first_call, last_call, unbounded, hop) as (
    select
        min(moment) - interval 60 second,
        max(moment) + interval 60 second,
        not (select walk from pivoted) or bool_or(moment is null),
        0
    from starts
    union all
    /* back to the earliest key that signed a call made in the span (scalar subqueries: Spark
       allows no aggregate over the recursive reference) */
    select
        least(s.first_call, s.earliest - interval 60 second),
        s.last_call,
        s.unbounded or s.unknown,
        s.hop + 1
    from (
        select
            s.*,
            (select min(i.session_created_at)
             from signing as i
             where i.event_time between s.first_call and s.last_call) as earliest,
            exists (select 1
                    from signing as i
                    where i.event_time between s.first_call and s.last_call
                      and i.session_created_at is null) as unknown
        from span as s
        where s.hop < 16
          and not s.unbounded
    ) as s
    where s.earliest - interval 60 second < s.first_call
       or s.unknown
)
/* unbounded: from the first issuing call to the last (Spark has no infinite time, and DuckDB
   joins on a range fast only when both its ends are values) */
select
    case
        when bool_or(unbounded) then (select min(event_time) from issuing)
        else min(first_call)
    end as first_call,
    case
        when bool_or(unbounded) or coalesce(cast($follow as boolean), false)
            then (select max(event_time) from issuing)
        else max(last_call)
    end as last_call
from span

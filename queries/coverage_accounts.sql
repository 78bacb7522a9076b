-- title: The accounts a period should have logs of, and what the database holds of each
-- description: One row per account that the organization's state rebuilt from the logs
-- (membership intervals of org_state_intervals, the management account's too) knows between
-- $since and $until (null: no bound), or that received events the database holds at any time:
-- member is true when the state names it a member at some time of the period, false when it
-- names it no member throughout (it left, or joined later), null when the state does not know
-- the account (outside the organization, or no organization trail); member_from and
-- member_until bound its member intervals there (member_known false when an end of them is
-- inferred, not seen); events, first_event and last_event are its events held in the period
-- (0 and null: no logs of it at all there). An account whose member is not false and whose
-- events are 0 is one the period has no logs of.
-- inputs: org_state_intervals, events
-- outputs: account_id, member, member_from, member_until, member_known, events, first_event,
-- last_event
-- params: since = null, until = null
-- tags: coverage, organization, reports

with
/* the membership intervals of the period: an account the state names no member of then (it
   left, or joined later) is expected to have no logs */
members as (
    select
        account_id,
        bool_or(state = 'member' or kind = 'management_account') as member,
        min(case when state = 'member' or kind = 'management_account' then start_time end)
            as member_from,
        max(case when state = 'member' or kind = 'management_account' then end_time end)
            as member_until,
        bool_and(known) filter (where state = 'member' or kind = 'management_account')
            as member_known
    from org_state_intervals
    where kind in ('membership', 'management_account')
      and account_id is not null
      and ($until is null or start_time <= $until)
      and ($since is null or end_time >= $since)
    group by account_id
),
held as (
    select
        recipient_account_id as account_id,
        count(*) filter (where ($since is null or event_time >= $since)
                           and ($until is null or event_time <= $until)) as events,
        min(event_time) filter (where ($since is null or event_time >= $since)
                                  and ($until is null or event_time <= $until)) as first_event,
        max(event_time) filter (where ($since is null or event_time >= $since)
                                  and ($until is null or event_time <= $until)) as last_event
    from events
    where recipient_account_id is not null
    group by recipient_account_id
)
select
    coalesce(m.account_id, h.account_id) as account_id,
    m.member,
    m.member_from,
    m.member_until,
    m.member_known,
    coalesce(h.events, 0) as events,
    h.first_event,
    h.last_event
from members as m
full join held as h on h.account_id = m.account_id
order by account_id

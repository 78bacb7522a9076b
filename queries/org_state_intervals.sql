-- title: The organization's access state as intervals, from the logs alone
-- description: One row per interval during which one piece of the organization's state held:
-- trusted access per service principal, delegated administrators per (account, service),
-- service-linked roles per (account, role), the centralized root access features, membership
-- per account, and the management account (known when the logs name exactly one, for the
-- whole window). Join it on time ranges: an interval holds from start_time up to but not
-- including end_time, and one whose end_action is empty runs to the end of the logs and
-- includes end_time. The logs cover a window: a state already in force at its start is
-- inferred, not seen (start_observed false), and `known` is true only when both ends rest on
-- observed changes (or the end is the end of the logs). Never rest a violation on a row whose
-- known is false. A gap in the logs (see coverage) can hide a change.
-- inputs: org_state_evidence, org_management_account, events
-- outputs: kind, subject, account_id, active, state, start_time, end_time, start_observed,
-- end_observed, known, start_action, end_action, actor, actor_account, end_actor,
-- evidence_event_ids
-- tags: organization, state, intervals

with
/* The window the logs cover: before and after it nothing is known. */
log_window as (
    select min(event_time) as first_event, max(event_time) as last_event
    from events
),
/* At one instant a change comes before the observations that agree with it, after those that
   do not: an observation that contradicts a change of the same second saw the state before
   it (the organization trail delivers an account's LeaveOrganization record: it was a member
   when it called). */
evidence as (
    select
        e.*,
        case
            when e.is_change then 1
            when exists (
                select 1
                from org_state_evidence c
                where c.is_change
                  and c.kind = e.kind
                  and c.subject = e.subject
                  and c.account_id is not distinct from e.account_id
                  and c.event_time = e.event_time
                  and c.active <> e.active) then 0
            else 2
        end as tie
    from org_state_evidence e
    where e.subject is not null
      and (e.account_id is not null or e.kind in ('trusted_access', 'root_feature'))
),
/* A new segment starts wherever the state differs from the one before it; repeats (retries,
   re-enables, observations that agree) stay in their segment as more evidence. */
marked as (
    select
        *,
        coalesce(active <> lag(active) over same_subject, true) as opens
    from evidence
    window same_subject as (
        partition by kind, subject, account_id
        order by event_time, tie, event_id nulls last)
),
numbered as (
    select
        *,
        sum(case when opens then 1 else 0 end) over (
            partition by kind, subject, account_id
            order by event_time, tie, event_id nulls last
            rows between unbounded preceding and current row) as segment
    from marked
),
/* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join(collect_list). */
segment_evidence as (
    select
        kind,
        subject,
        account_id,
        segment,
        string_agg(event_id, ',' order by event_time, event_id) as event_ids
    from numbered
    group by kind, subject, account_id, segment
),
segments as (
    select
        h.kind,
        h.subject,
        h.account_id,
        h.segment,
        h.active,
        h.event_time as head_time,
        h.event_id as head_event_id,
        h.is_change as head_is_change,
        h.action as head_action,
        h.actor as head_actor,
        h.actor_account as head_actor_account,
        lead(h.event_time) over next_segment as next_time,
        lead(h.event_id) over next_segment as next_event_id,
        lead(h.is_change) over next_segment as next_is_change,
        lead(h.action) over next_segment as next_action,
        lead(h.actor) over next_segment as next_actor,
        s.event_ids
    from numbered h
    join segment_evidence s  /* is not distinct from: Spark's <=> */
        on s.kind = h.kind
       and s.subject = h.subject
       and s.account_id is not distinct from h.account_id
       and s.segment = h.segment
    where h.opens
    window next_segment as (partition by h.kind, h.subject, h.account_id order by h.segment)
),
raw_intervals as (
    /* before the first change: the opposite state, inferred from the change itself */
    select
        s.kind, s.subject, s.account_id,
        not s.active as active,
        w.first_event as start_time,
        s.head_time as end_time,
        false as start_observed,
        true as end_observed,
        false as known,
        cast(null as varchar) as start_action,
        s.head_action as end_action,
        cast(null as varchar) as actor,
        cast(null as varchar) as actor_account,
        s.head_actor as end_actor,
        s.head_event_id as evidence_event_ids
    from segments s
    cross join log_window w
    where s.segment = 1 and s.head_is_change and w.first_event < s.head_time
    union all
    /* each segment, until the next one or the end of the logs; a segment opened by an
       observation started at some unseen moment, so its start is not observed */
    select
        s.kind, s.subject, s.account_id,
        s.active,
        case when s.segment = 1 and not s.head_is_change then w.first_event
             else s.head_time end,
        coalesce(s.next_time, w.last_event),
        s.head_is_change,
        coalesce(s.next_is_change, false),
        s.head_is_change and coalesce(s.next_is_change, true),
        s.head_action,
        s.next_action,
        case when s.head_is_change then s.head_actor end,
        case when s.head_is_change then s.head_actor_account end,
        case when s.next_is_change then s.next_actor end,
        nullif(concat_ws(',', s.event_ids, s.next_event_id), '')
    from segments s
    cross join log_window w
    union all
    /* the management account: constant over the logs; known when exactly one is named */
    select
        'management_account', 'organization', c.account_id, true,
        w.first_event, w.last_event, false, false,
        c.known,
        null, null, null, null, null,
        c.first_evidence
    from org_management_account c
    cross join log_window w
),
intervals as (
    select
        kind,
        subject,
        account_id,
        active,
        case
            when kind in ('trusted_access', 'root_feature')
                then case when active then 'enabled' else 'disabled' end
            when kind = 'delegated_admin'
                then case when active then 'registered' else 'not registered' end
            when kind = 'service_linked_role'
                then case when active then 'exists' else 'absent' end
            when kind = 'membership'
                then case when active then 'member' else 'not member' end
            else 'management account'
        end as state,
        start_time,
        end_time,
        start_observed,
        end_observed,
        known,
        start_action,
        end_action,
        actor,
        actor_account,
        end_actor,
        evidence_event_ids
    from raw_intervals
),
result as (
    select
        kind, subject, account_id, active, state, start_time, end_time, start_observed,
        end_observed, known, start_action, end_action, actor, actor_account, end_actor,
        evidence_event_ids
    from intervals
)
select *
from result
order by kind, subject, account_id nulls first, start_time, end_time, active

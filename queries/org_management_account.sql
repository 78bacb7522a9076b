-- title: The organization's management account, as the logs reveal it
-- description: One row per account the logs name as the management account (see
-- org_management_evidence), with how many events name it and the first of them. known is
-- true when the logs name exactly one account, which is then the management account for the
-- whole window; with more than one, each is a candidate and who the management account is,
-- unknown. No row: nothing in the logs names it.
-- inputs: org_management_evidence
-- outputs: account_id, observations, first_evidence, known
-- tags: organization, identity, management account

with
ranked as (
    select
        account_id,
        event_time,
        event_id,
        row_number() over (partition by account_id order by event_time, event_id) as n
    from org_management_evidence
),
candidates as (
    select
        account_id,
        count(*) as observations,
        max(case when n = 1 then event_id end) as first_evidence
    from ranked
    group by account_id
),
result as (
    select
        account_id,
        observations,
        first_evidence,
        count(*) over () = 1 as known
    from candidates
)
select *
from result
order by account_id

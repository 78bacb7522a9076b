-- title: What the logs cover, hour by hour: events per account, region and UTC hour
-- description: One row per recipient account, region and UTC hour (the hour's start) with
-- events held, between $since and $until (null: no bound). An hour of a period missing here
-- has no event of that account and region: nothing was delivered for it, because nothing
-- happened or because its files are missing; the logs cannot tell which. CloudTrail delivers a
-- file every few minutes per account and region while there is activity, so a quiet hour in
-- a quiet region is common, a whole day missing less so. An account and region the database
-- holds events of, none of them in the period, is one row with hour null and events 0: it
-- delivered nothing the whole period. trailscope.coverage makes the days and hours without
-- events of a report's period from these rows.
-- inputs: events
-- outputs: account_id, aws_region, hour, events
-- params: since = null, until = null
-- tags: coverage, reports

with
held as (
    select
        recipient_account_id as account_id,
        aws_region,
        date_trunc('hour', event_time) as hour,
        count(*) as events
    from events
    where ($since is null or event_time >= $since)
      and ($until is null or event_time <= $until)
    group by recipient_account_id, aws_region, date_trunc('hour', event_time)
),
/* the pairs with events outside the period and none in it */
silent as (
    select distinct
        e.recipient_account_id as account_id,
        e.aws_region,
        cast(null as timestamp with time zone) as hour,
        cast(0 as bigint) as events
    from events as e
    where not exists (
        select 1
        from held as h
        where h.account_id is not distinct from e.recipient_account_id
          and h.aws_region is not distinct from e.aws_region
    )
)
select * from held
union all
select * from silent
order by account_id, aws_region, hour nulls first

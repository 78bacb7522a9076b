-- title: What the logs cover: events per account, region and day
-- description: One row per recipient account, region and UTC day with the events held, the
-- first and last event time, and how many files they came from. Days missing between the
-- first and last day of an account/region are gaps the analysis cannot see into.
-- inputs: events, event_sources
-- outputs: account_id, aws_region, day, events, first_event, last_event, files
select
    e.recipient_account_id as account_id,
    e.aws_region,
    cast(e.event_time as date) as day,
    count(distinct e.event_id) as events,
    min(e.event_time) as first_event,
    max(e.event_time) as last_event,
    count(distinct s.file_id) as files
from events e
join event_sources s using (event_id)
group by all
order by account_id, aws_region, day

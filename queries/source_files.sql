-- title: The files a period's events were read from, with their SHA-256
-- description: One row per file and recipient account with events held between $since and
-- $until (null: no bound): the file (its path or s3:// URL as ingested, the SHA-256 of its
-- bytes as stored, so `sha256sum` of the file gives the same, its size and the ingest run that
-- read it), and the events of that account read from it in the period, first and last. An
-- event read from more than one file (overlapping trails) counts in each. A report lists the
-- first files its events rest on; `trailscope query source_files` lists every one.
-- inputs: files, event_sources, events
-- outputs: file_id, path, sha256, size, run_id, account_id, events, first_event, last_event
-- params: since = null, until = null
-- tags: inputs, reports

select
    f.file_id,
    f.path,
    f.sha256,
    f.size,
    f.run_id,
    e.recipient_account_id as account_id,
    count(*) as events,
    min(e.event_time) as first_event,
    max(e.event_time) as last_event
from events as e
join event_sources as s on s.event_id = e.event_id
join files as f on f.file_id = s.file_id
where ($since is null or e.event_time >= $since)
  and ($until is null or e.event_time <= $until)
group by f.file_id, f.path, f.sha256, f.size, f.run_id, e.recipient_account_id
order by f.path, f.file_id, account_id

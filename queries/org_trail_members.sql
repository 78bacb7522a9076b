-- title: The accounts an organization trail delivers, per organization
-- description: One row per organization and account whose events arrived in files of an
-- organization trail (AWSLogs/<o-id>/<account>/CloudTrail/): the account is in that
-- organization while its events are delivered there. first_seen and last_seen are its first
-- and last event held from such files, files how many files they came from, example_key the
-- first file's S3 key from AWSLogs/ on (the same wherever the files were copied).
-- inputs: files, event_sources, events
-- outputs: organization_id, account_id, first_seen, last_seen, files, example_key
-- tags: organization, membership

with
/* regexp_extract gives '' when nothing matches (DuckDB and Spark alike); strpos is Spark's
   instr. */
org_trail_files as (
    select
        file_id,
        path,
        regexp_extract(replace(path, '\', '/'),
                       '/AWSLogs/(o-[a-z0-9]{10,32})/[0-9]{12}/CloudTrail/', 1) as organization_id,
        regexp_extract(replace(path, '\', '/'),
                       '/AWSLogs/o-[a-z0-9]{10,32}/([0-9]{12})/CloudTrail/', 1) as account_id
    from files
    where regexp_extract(replace(path, '\', '/'),
                         '/AWSLogs/(o-[a-z0-9]{10,32})/[0-9]{12}/CloudTrail/', 1) <> ''
),
result as (
    select
        f.organization_id,
        f.account_id,
        min(e.event_time) as first_seen,
        max(e.event_time) as last_seen,
        count(distinct f.file_id) as files,
        min(substr(replace(f.path, '\', '/'),
                   strpos(replace(f.path, '\', '/'), '/AWSLogs/') + 1)) as example_key
    from org_trail_files f
    join event_sources s on s.file_id = f.file_id
    join events e on e.event_id = s.event_id
    group by f.organization_id, f.account_id
)
select *
from result
order by organization_id, account_id

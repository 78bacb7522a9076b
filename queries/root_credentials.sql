-- title: Each account's root credentials at the end of the logs
-- description: One row per account whose root credentials the logs show being changed (see
-- root_credential_changes). state is "deleted centrally" when the root password was deleted by
-- a root session and no password was created since (deleted_since, by deleted_by_session and
-- deleted_by_caller), "password restored" when a password was created after such a deletion,
-- else "changed". The counts are of successful changes; long_term_use_after is how many
-- long-term root events (root_long_term_activity) came while the credentials were deleted.
-- inputs: root_credential_changes, root_long_term_activity
-- outputs: account_id, state, deleted_since, deleted_by_session, deleted_by_caller,
-- password, access_keys_created, access_keys_deleted, mfa_devices_removed,
-- signing_certificates_deleted, changes, last_change_at, long_term_use_after,
-- evidence_event_ids
-- tags: root, credentials, lifecycle

with
changes as (
    select *
    from root_credential_changes
),
per_account as (
    select
        account_id,
        max(case when credential = 'password' and change = 'deleted' and outcome = 'succeeded'
                      and made_by <> 'long-term root' then event_time end) as last_central_delete,
        arg_max(case when credential = 'password' and outcome = 'succeeded' then change end,
                case when credential = 'password' and outcome = 'succeeded'
                     then event_time end) as password,
        count(*) filter (where credential = 'access key' and change = 'created'
                               and outcome = 'succeeded') as access_keys_created,
        count(*) filter (where credential = 'access key' and change = 'deleted'
                               and outcome = 'succeeded') as access_keys_deleted,
        count(*) filter (where credential = 'MFA device' and change in ('deleted', 'deactivated')
                               and outcome = 'succeeded') as mfa_devices_removed,
        count(*) filter (where credential = 'signing certificate' and change = 'deleted'
                               and outcome = 'succeeded') as signing_certificates_deleted,
        count(*) as changes,
        max(event_time) as last_change_at,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(event_id, ',' order by event_time, event_id) as evidence_event_ids
    from changes
    group by account_id
),
/* the state after each account's last change */
latest as (
    select account_id, deleted_since
    from (
        select
            account_id,
            deleted_since,
            row_number() over (partition by account_id
                               order by event_time desc, event_id desc) as n
        from changes
    ) ordered
    where n = 1
),
deleter as (
    select account_id, session_id, caller_arn
    from changes c
    where credential = 'password'
      and change = 'deleted'
      and outcome = 'succeeded'
      and made_by <> 'long-term root'
      and event_time = (select l.deleted_since from latest l where l.account_id = c.account_id)
),
use_after as (
    select a.account_id, count(*) as long_term_use_after
    from root_long_term_activity a
    join latest l
        on l.account_id = a.account_id
       and a.event_time > l.deleted_since
    group by a.account_id
),
result as (
    select
        p.account_id,
        case
            when l.deleted_since is not null then 'deleted centrally'
            when p.last_central_delete is not null then 'password restored'
            else 'changed'
        end as state,
        l.deleted_since,
        d.session_id as deleted_by_session,
        d.caller_arn as deleted_by_caller,
        p.password,
        p.access_keys_created,
        p.access_keys_deleted,
        p.mfa_devices_removed,
        p.signing_certificates_deleted,
        p.changes,
        p.last_change_at,
        coalesce(u.long_term_use_after, 0) as long_term_use_after,
        p.evidence_event_ids
    from per_account p
    join latest l
        on l.account_id = p.account_id
    left join deleter d
        on d.account_id = p.account_id
    left join use_after u
        on u.account_id = p.account_id
)
select *
from result
order by account_id

-- title: Findings: the root user used with long-term credentials, outside AssumeRoot sessions
-- description: The root-outside-AssumeRoot check: one finding per
-- episode of root_long_term_activity (an account's long-term root events, less than an hour
-- apart), which never holds a root session's events. credentials_deleted (critical): it used
-- a door the logs show closed: the root password (a sign-in, recovery, password change or
-- console session) while the password was deleted centrally (root_credential_changes
-- deleted_since), or a root access key after that key was deleted. long_term_root_use (high):
-- root sign-in, password recovery or root keys otherwise, also a root access key the logs
-- never show deleted after the password was: deleting the password leaves the keys.
-- failed_attempts (medium): every event of the episode failed. session_id is the episode_id;
-- evidence its events in time order, context the deletion that makes it critical.
-- inputs: root_long_term_activity, root_credential_changes
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, root, long_term_credentials

with
activity as (
    select *
    from root_long_term_activity
),
changes as (
    select *
    from root_credential_changes
),
/* the credentials' state when each event came: that of the account's last change before it */
state as (
    select
        a.event_id,
        max(c.event_time) as change_at
    from activity a
    join changes c
        on c.account_id = a.account_id
       and c.event_time <= a.event_time
       and c.event_id <> a.event_id
    group by a.event_id
),
/* the password's state when each event came; only the password's doors are closed by it */
deleted as (
    select
        a.event_id,
        c.deleted_since,
        a.credential in ('password recovery', 'console sign-in', 'password change',
                         'console session') as by_password
    from activity a
    join state s
        on s.event_id = a.event_id
    join changes c
        on c.account_id = a.account_id
       and c.event_time = s.change_at
    where c.deleted_since is not null
),
deleted_keys as (
    select a.event_id, c.event_id as deletion_event_id, c.event_time as deleted_at
    from activity a
    join changes c
        on c.account_id = a.account_id
       and c.credential = 'access key'
       and c.change = 'deleted'
       and c.outcome = 'succeeded'
       and c.credential_id = a.access_key_id
       and c.event_time < a.event_time
),
deletions as (
    select c.account_id, c.event_time, c.event_id, c.session_id, c.caller_arn
    from changes c
    where c.credential = 'password'
      and c.change = 'deleted'
      and c.outcome = 'succeeded'
      and c.made_by <> 'long-term root'
),
episodes as (
    select
        a.account_id,
        a.episode_id,
        min(a.event_time) as first_at,
        max(a.event_time) as last_at,
        count(*) as events,
        count(*) filter (where a.outcome = 'succeeded') as succeeded,
        string_agg(distinct a.credential, ', ' order by a.credential) as credentials,
        string_agg(distinct a.event_name, ', ' order by a.event_name) as calls,
        string_agg(distinct a.source_ip, ', ' order by a.source_ip) as source_ips,
        string_agg(distinct a.access_key_id, ', ' order by a.access_key_id)
            filter (where a.credential = 'access key') as access_keys,
        string_agg(distinct a.mfa_used, ', ' order by a.mfa_used) as mfa_used,
        max(d.deleted_since) filter (where d.by_password) as deleted_since,
        max(d.deleted_since) as password_deleted_since,
        min(k.deleted_at) as key_deleted_at,
        string_agg(distinct k.deletion_event_id, ',' order by k.deletion_event_id)
            as key_deletions,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(a.event_id, ',' order by a.event_time, a.event_id) as event_ids
    from activity a
    left join deleted d
        on d.event_id = a.event_id
    left join deleted_keys k
        on k.event_id = a.event_id
    group by a.account_id, a.episode_id
),
raw as (
    select
        case
            when e.succeeded = 0 then 'failed_attempts'
            when e.deleted_since is not null or e.key_deleted_at is not null
                then 'credentials_deleted'
            else 'long_term_root_use'
        end as rule,
        case
            when e.succeeded = 0 then 'medium'
            when e.deleted_since is not null or e.key_deleted_at is not null then 'critical'
            else 'high'
        end as severity,
        e.account_id,
        concat('arn:aws:iam::', e.account_id, ':root') as principal,
        e.episode_id as session_id,
        e.first_at as event_time,
        concat('Root user of ', e.account_id, ' used long-term credentials (', e.credentials,
               ')', case when e.succeeded = 0 then ', without success'
                         when e.deleted_since is not null
                             then ' after its root password was deleted centrally'
                         when e.key_deleted_at is not null then ' with a deleted access key'
                         else '' end) as title,
        concat('From ', strftime(e.first_at, '%Y-%m-%dT%H:%M:%SZ'), ' to ',
               strftime(e.last_at, '%Y-%m-%dT%H:%M:%SZ'), ' the root user of ', e.account_id,
               ' made ', e.events, ' call(s) (', e.succeeded, ' succeeded) from ',
               e.source_ips, ' with its own credentials, not through an AssumeRoot session: ',
               e.calls, '.',
               case when e.access_keys is not null
                    then concat(' Root access key(s): ', e.access_keys, '.') end,
               case when e.mfa_used is not null
                    then concat(' MFA used at sign-in: ', e.mfa_used, '.') end,
               case when e.deleted_since is not null
                    then concat(' Its root password was deleted centrally at ',
                                strftime(e.deleted_since, '%Y-%m-%dT%H:%M:%SZ'), ' by ',
                                coalesce(x.caller_arn, 'a root session'), ' (session ',
                                x.session_id, ') and no password was allowed back since, '
                                || 'yet the root password was used above: nobody should be '
                                || 'able to sign in or recover it. Treat the root e-mail '
                                || 'inbox and the account as compromised, delete the root '
                                || 'credentials again and review every call above.',
                                case when e.access_keys is not null and e.key_deleted_at is null
                                     then ' The root access key(s) used are not shown deleted '
                                          || 'in the logs: deleting the password leaves them.'
                                end)
                    when e.key_deleted_at is not null
                    then concat(' The access key was deleted at ',
                                strftime(e.key_deleted_at, '%Y-%m-%dT%H:%M:%SZ'),
                                ': a deleted key cannot work, so check the record and the '
                                || 'account for compromise.')
                    when e.succeeded = 0
                    then ' Every attempt failed: watch for more, and confirm who holds the root '
                         || 'credentials.'
                    when e.password_deleted_since is not null
                    then concat(' Its root password was deleted centrally at ',
                                strftime(e.password_deleted_since, '%Y-%m-%dT%H:%M:%SZ'),
                                ', but the logs never show the root access key(s) used here '
                                || 'deleted: deleting the password leaves root access keys '
                                || 'working. Confirm who holds them and delete them '
                                || '(IAMDeleteRootUserCredentials).')
                    else ' Confirm who holds the root credentials and why they were used; in an '
                         || 'organization with centralized root access, delete them '
                         || '(IAMDeleteRootUserCredentials) and use AssumeRoot for privileged '
                         || 'tasks.' end) as explanation,
        e.event_ids as evidence_event_ids,
        nullif(concat_ws(',', case when e.deleted_since is not null then x.event_id end,
                         e.key_deletions), '') as context_event_ids
    from episodes e
    left join deletions x
        on x.account_id = e.account_id
       and x.event_time = e.deleted_since
)
select *
from raw
order by event_time, rule, evidence_event_ids

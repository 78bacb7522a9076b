-- title: Root user activity with long-term credentials, apart from AssumeRoot sessions
-- description: One row per event of an account's root user that no root session made: every
-- userIdentity.type Root event that is not in root_session_events (so neither the key of an
-- AssumeRoot call nor the assumedRoot flag, and a ConsoleLogin made by a root session stays
-- out). credential says which door: password recovery, console sign-in (the root password),
-- password change (PasswordUpdated in the console), console session (a temporary ASIA key the
-- record marks sessionCredentialFromConsole), temporary key (any other root ASIA key, from
-- GetSessionToken with root credentials or aws login, not from AssumeRoot), access key (a
-- long-term AKIA root access key), or other (no key: console actions, service calls for
-- root). outcome is failed for an error, and for a sign-in event whose response says Failure
-- ({"ConsoleLogin": "Failure"}, {"PasswordUpdated": "Failure"}, as real captures show). Events
-- of one account less than an hour apart form an episode; episode_id is the account and the
-- episode's first event time.
-- inputs: events, root_session_events
-- outputs: account_id, episode_id, event_time, event_id, event_source, event_name, aws_region,
-- credential, access_key_id, outcome, error_code, mfa_used, source_ip, user_agent
-- tags: root, long_term_credentials

with
session_event_ids as (
    select event_id
    from root_session_events
),
root_events as (
    select
        e.event_id,
        e.event_time,
        e.recipient_account_id as account_id,
        e.event_source,
        e.event_name,
        e.aws_region,
        nullif(e.access_key_id, '') as access_key_id,
        e.error_code,
        e.source_ip,
        e.user_agent,
        coalesce(e.session_credential_from_console, false) as from_console,
        case when e.event_name = 'ConsoleLogin'
             then e.additional_event_data ->> '$.MFAUsed' end as mfa_used,
        /* sign-in events answer {"<eventName>": "Success" | "Failure"} */
        case when e.event_source = 'signin.amazonaws.com'
             then e.response_elements ->> ('$.' || e.event_name) end as signin_result
    from events e
    where e.identity_type = 'Root'
      and not exists (select 1 from session_event_ids s where s.event_id = e.event_id)
),
classified as (
    select
        *,
        case
            when event_name like 'PasswordRecovery%' then 'password recovery'
            when event_name = 'ConsoleLogin' then 'console sign-in'
            when event_name = 'PasswordUpdated' then 'password change'
            when access_key_id like 'AKIA%' then 'access key'
            when access_key_id like 'ASIA%' and from_console then 'console session'
            when access_key_id like 'ASIA%' then 'temporary key'
            else 'other'
        end as credential,
        case
            when error_code is not null or signin_result = 'Failure' then 'failed'
            else 'succeeded'
        end as outcome,
        /* an hour of silence in the account starts a new episode */
        coalesce(date_diff('second',
                           lag(event_time) over (partition by account_id
                                                 order by event_time, event_id),
                           event_time) > 3600, true) as opens
    from root_events
),
episodes as (
    select
        *,
        sum(case when opens then 1 else 0 end) over (
            partition by account_id order by event_time, event_id
            rows between unbounded preceding and current row) as episode
    from classified
),
result as (
    select
        account_id,
        account_id || '/' || strftime(min(event_time) over (partition by account_id, episode),
                                      '%Y-%m-%dT%H:%M:%SZ') as episode_id,
        event_time,
        event_id,
        event_source,
        event_name,
        aws_region,
        credential,
        access_key_id,
        outcome,
        error_code,
        mfa_used,
        source_ip,
        user_agent
    from episodes
)
select *
from result
order by account_id, event_time, event_id

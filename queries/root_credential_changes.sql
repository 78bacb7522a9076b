-- title: The root credentials lifecycle of each account: what was created or deleted, by whom
-- description: One row per attempt, successful or not, to create, delete or change a root user
-- credential (password, access key, MFA device, signing certificate) or to recover or change
-- the root password (PasswordRecoveryCompleted, and PasswordUpdated in the console), made as
-- the account's root user (IAM calls naming an IAM user are not about root). A sign-in event
-- whose response says Failure is a failed attempt (error_code Failure).
-- made_by tells the door: an AssumeRoot session (session_id, caller_arn and task_policy of its
-- call), an orphan root session, or long-term root credentials. deleted_since is the state
-- after the row: the time the root password was deleted centrally (DeleteLoginProfile by a root
-- session) while no password has been created since: "root credentials deleted since T". The
-- root user's own changes while so deleted (a recovered password, a new access key) do not
-- end it: only a created login profile does.
-- inputs: events, root_session_events, assume_root_calls
-- outputs: account_id, event_time, event_id, credential, change, credential_id, outcome,
-- error_code, made_by, session_id, caller_arn, task_policy, deleted_since
-- tags: root, credentials, lifecycle

with
changes as (
    select
        event_id,
        event_time,
        recipient_account_id as account_id,
        event_name,
        /* sign-in events answer {"<eventName>": "Failure"} without an errorCode */
        coalesce(error_code,
                 case when event_source = 'signin.amazonaws.com'
                           and response_elements ->> ('$.' || event_name) = 'Failure'
                      then 'Failure' end) as error_code,
        request_parameters,
        response_elements
    from events
    where identity_type = 'Root'
      and event_name in ('CreateLoginProfile', 'DeleteLoginProfile', 'UpdateLoginProfile',
                         'PasswordRecoveryCompleted', 'PasswordUpdated', 'CreateAccessKey',
                         'DeleteAccessKey',
                         'UpdateAccessKey', 'EnableMFADevice', 'CreateVirtualMFADevice',
                         'DeactivateMFADevice', 'DeleteVirtualMFADevice',
                         'UploadSigningCertificate', 'DeleteSigningCertificate',
                         'UpdateSigningCertificate')
      and event_source in ('iam.amazonaws.com', 'signin.amazonaws.com')
),
own as (
    select
        *,
        case
            when event_name like '%LoginProfile' or event_name like 'Password%'
                then 'password'
            when event_name like '%AccessKey' then 'access key'
            when event_name like '%MFADevice' then 'MFA device'
            else 'signing certificate'
        end as credential,
        case
            when event_name like 'Create%' or event_name like 'Upload%'
                 or event_name like 'Enable%' then 'created'
            when event_name like 'Delete%' then 'deleted'
            when event_name like 'Deactivate%' then 'deactivated'
            when event_name = 'PasswordRecoveryCompleted' then 'recovered'
            else 'updated'
        end as change,
        coalesce(request_parameters ->> '$.accessKeyId',
                 response_elements ->> '$.accessKey.accessKeyId',
                 request_parameters ->> '$.serialNumber',
                 response_elements ->> '$.virtualMFADevice.serialNumber',
                 request_parameters ->> '$.certificateId',
                 response_elements ->> '$.certificate.certificateId') as credential_id
    from changes
    where nullif(request_parameters ->> '$.userName', '') is null
),
by_whom as (
    select
        o.*,
        case
            when s.session_kind = 'assume_root' then 'AssumeRoot session'
            when s.session_kind = 'orphan' then 'orphan root session'
            else 'long-term root'
        end as made_by,
        s.session_id,
        c.caller_arn,
        c.task_policy
    from own o
    left join root_session_events s
        on s.event_id = o.event_id
    left join assume_root_calls c
        on c.session_id = s.session_id
),
marks as (
    select
        *,
        max(case when error_code is null and event_name = 'DeleteLoginProfile'
                      and made_by <> 'long-term root' then event_time end) over running
            as last_central_delete,
        max(case when error_code is null and event_name = 'CreateLoginProfile'
                 then event_time end) over running as last_create
    from by_whom
    window running as (partition by account_id order by event_time, event_id
                       rows between unbounded preceding and current row)
),
result as (
    select
        account_id,
        event_time,
        event_id,
        credential,
        change,
        credential_id,
        case when error_code is null then 'succeeded' else 'failed' end as outcome,
        error_code,
        made_by,
        session_id,
        caller_arn,
        task_policy,
        case when last_central_delete is not null
                  and (last_create is null or last_create < last_central_delete)
             then last_central_delete end as deleted_since
    from marks
)
select *
from result
order by account_id, event_time, event_id

-- title: Every sts:AssumeRoot call, successful or not, with what it asked for and got
-- description: One row per AssumeRoot call (a second copy of the same call delivered to another
-- account, same sharedEventID, is folded into the caller's copy). session_id is the call's
-- eventID. The caller is the identity that called (account, ARN, source IP, user agent, the
-- region of the STS endpoint); target_account_id is the 12 digits of targetPrincipal, given as an
-- account ID or as arn:aws:iam::<account>:root. requested_duration is empty when the request left
-- durationSeconds out, duration_seconds is then the default 900. expiration_text is the
-- response's credentials.expiration as CloudTrail writes it ("Oct 25, 2024, 9:07:11 PM", with a
-- plain or a narrow no-break space before AM/PM, or ISO 8601); expires_at is it parsed, UTC.
-- access_key_id is the temporary key the session's events carry in the target account.
-- inputs: events
-- outputs: session_id, issued_at, outcome, error_code, error_message, caller_account_id,
-- caller_arn, caller_type, caller_access_key_id, source_ip, user_agent, call_region,
-- recipient_account_id, target_principal, target_account_id, task_policy_arn, task_policy,
-- requested_duration, duration_seconds, expiration_text, expires_at, access_key_id,
-- source_identity
-- tags: assume_root, sessions

with
/* only AssumeRoot rows reach the JSON columns: the filter is on stored columns */
calls as (
    select
        event_id,
        event_time,
        aws_region,
        recipient_account_id,
        shared_event_id,
        identity_type,
        identity_arn,
        coalesce(identity_account_id, recipient_account_id) as caller_account_id,
        access_key_id,
        source_ip,
        user_agent,
        error_code,
        error_message,
        request_parameters,
        response_elements
    from events
    where event_name = 'AssumeRoot'
      and event_source = 'sts.amazonaws.com'
),
/* the caller's own copy first, when the same call was delivered to the target as well */
one_copy as (
    select
        *,
        row_number() over (
            partition by coalesce(shared_event_id, event_id)
            order by case when recipient_account_id = caller_account_id then 0 else 1 end,
                     event_id) as copy
    from calls
),
/* DuckDB JSON paths (->>): Spark's get_json_object */
fields as (
    select
        *,
        coalesce(request_parameters ->> '$.targetPrincipal',
                 request_parameters ->> '$.TargetPrincipal') as target_principal,
        coalesce(request_parameters ->> '$.taskPolicyArn.arn',
                 request_parameters ->> '$.TaskPolicyArn.arn',
                 case when json_type(json_extract(request_parameters, '$.taskPolicyArn')) = 'VARCHAR'
                      then request_parameters ->> '$.taskPolicyArn' end) as task_policy_arn,
        try_cast(coalesce(request_parameters ->> '$.durationSeconds',
                          request_parameters ->> '$.DurationSeconds') as integer)
            as requested_duration,
        nullif(coalesce(response_elements ->> '$.credentials.accessKeyId',
                        response_elements ->> '$.Credentials.AccessKeyId'), '')
            as issued_key,
        coalesce(response_elements ->> '$.credentials.expiration',
                 response_elements ->> '$.Credentials.Expiration') as expiration_text,
        coalesce(response_elements ->> '$.sourceIdentity',
                 response_elements ->> '$.SourceIdentity') as source_identity
    from one_copy
    where copy = 1
),
result as (
    select
        event_id as session_id,
        event_time as issued_at,
        case when error_code is null then 'issued' else 'failed' end as outcome,
        error_code,
        error_message,
        caller_account_id,
        identity_arn as caller_arn,
        identity_type as caller_type,
        access_key_id as caller_access_key_id,
        source_ip,
        user_agent,
        aws_region as call_region,
        recipient_account_id,
        target_principal,
        nullif(regexp_extract(target_principal, '([0-9]{12})', 1), '') as target_account_id,
        task_policy_arn,
        regexp_extract(task_policy_arn, '[^/]+$') as task_policy,
        requested_duration,
        coalesce(requested_duration, 900) as duration_seconds,
        expiration_text,
        /* strptime's %p wants a plain space: CloudTrail may write U+202F (or U+00A0) before
           AM/PM. timezone('UTC', ...) reads the naive result as UTC. DuckDB-only: Spark uses
           to_timestamp(..., 'MMM d, yyyy, h:mm:ss a'). */
        coalesce(
            timezone('UTC', try_strptime(
                replace(replace(trim(expiration_text), chr(8239), ' '), chr(160), ' '),
                '%b %d, %Y, %I:%M:%S %p')),
            try_cast(expiration_text as timestamptz)) as expires_at,
        issued_key as access_key_id,
        source_identity
    from fields
)
select *
from result
order by issued_at, session_id

-- title: Every temporary access key STS issued in the logs, with the call that issued it and its caller
-- description: One row per access key found in responseElements.credentials.accessKeyId of a
-- successful AssumeRole, AssumeRoleWithSAML, AssumeRoleWithWebIdentity, GetSessionToken,
-- GetFederationToken or AssumeRoot call. A cross-account call is logged by the caller's account
-- and by the role's (same sharedEventID, the role's copy naming the caller only as an
-- AWSAccount); the copy that carries the caller's access key is kept, and copies says how many
-- there were. caller_* is who made the call: caller_access_key_id, the key it was made with, is
-- the parent in credential_lineage (empty for a SAML or web identity caller, an AWS service
-- such as EC2 delivering an instance role, or a copy that does not name the key). issued_* is
-- the identity the key acts as: the role session (from assumedRoleUser, or built from roleArn
-- and roleSessionName when the response leaves it out, as for EC2 instance roles), the
-- federated user, the calling IAM user for GetSessionToken, the target account's root for
-- AssumeRoot. source_identity is the one the new session carries: from the response, the
-- request, or inherited from the caller's session. identity_provider is the SAML provider
-- (principalArn, else the assertion's issuer) or the web identity provider.
-- inputs: events
-- outputs: access_key_id, minted_at, mint_event_id, mint_event_name, mint_account_id,
-- mint_region, copies, caller_type, caller_arn, caller_principal_id, caller_account_id,
-- caller_access_key_id, caller_invoked_by, source_ip, user_agent, issued_type, issued_arn,
-- issued_account_id, role_arn, session_name, source_identity, identity_provider
-- tags: credentials, lineage

with
/* filtered on stored columns first: only these calls reach the JSON columns */
calls as (
    select
        event_id,
        event_time,
        event_name,
        recipient_account_id,
        aws_region,
        identity_type,
        identity_arn,
        principal_id,
        coalesce(identity_account_id, recipient_account_id) as caller_account_id,
        nullif(access_key_id, '') as caller_access_key_id,
        invoked_by,
        source_identity as caller_source_identity,
        source_ip,
        user_agent,
        request_parameters,
        response_elements,
        record
    from events
    where event_source = 'sts.amazonaws.com'
      and event_name in ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity',
                         'GetSessionToken', 'GetFederationToken', 'AssumeRoot')
      and error_code is null
),
/* DuckDB JSON paths (->>): Spark's get_json_object. Both spellings: CloudTrail writes
   camelCase, the API names are PascalCase. */
fields as (
    select
        *,
        nullif(coalesce(response_elements ->> '$.credentials.accessKeyId',
                        response_elements ->> '$.Credentials.AccessKeyId'), '') as issued_key,
        coalesce(response_elements ->> '$.assumedRoleUser.arn',
                 response_elements ->> '$.federatedUser.arn') as response_arn,
        request_parameters ->> '$.roleArn' as role_arn,
        coalesce(request_parameters ->> '$.roleSessionName',
                 request_parameters ->> '$.name') as session_name,
        regexp_extract(coalesce(request_parameters ->> '$.targetPrincipal',
                                request_parameters ->> '$.TargetPrincipal'), '([0-9]{12})', 1)
            as target_account,
        coalesce(response_elements ->> '$.sourceIdentity',
                 response_elements ->> '$.SourceIdentity',
                 request_parameters ->> '$.sourceIdentity') as own_source_identity,
        case event_name
            when 'AssumeRoleWithSAML' then coalesce(request_parameters ->> '$.principalArn',
                                                    response_elements ->> '$.issuer')
            when 'AssumeRoleWithWebIdentity' then coalesce(
                response_elements ->> '$.provider', record ->> '$.userIdentity.identityProvider')
        end as identity_provider
    from calls
),
/* the copy that names the caller's key first, then the caller's own account's copy */
ranked as (
    select
        *,
        count(*) over (partition by issued_key) as copies,
        row_number() over (
            partition by issued_key
            order by case when caller_access_key_id is null then 1 else 0 end,
                     case when recipient_account_id = caller_account_id then 0 else 1 end,
                     event_time, event_id) as copy
    from fields
    where issued_key is not null
),
issued as (
    select
        *,
        case
            when event_name = 'AssumeRoot' then 'Root'
            when event_name = 'GetSessionToken' then identity_type
            when event_name = 'GetFederationToken' then 'FederatedUser'
            else 'AssumedRole'
        end as issued_type,
        case
            when event_name = 'AssumeRoot' then 'arn:aws:iam::' || target_account || ':root'
            when event_name = 'GetSessionToken' then identity_arn
            when event_name = 'GetFederationToken' then coalesce(
                response_arn,
                'arn:aws:sts::' || caller_account_id || ':federated-user/' || session_name)
            /* a role ARN may have a path; the session ARN holds only the role's name */
            else coalesce(
                response_arn,
                'arn:' || split_part(role_arn, ':', 2) || ':sts::' || split_part(role_arn, ':', 5)
                || ':assumed-role/' || regexp_extract(role_arn, '[^/]+$') || '/' || session_name)
        end as issued_arn
    from ranked
    where copy = 1
)
select
    issued_key as access_key_id,
    event_time as minted_at,
    event_id as mint_event_id,
    event_name as mint_event_name,
    recipient_account_id as mint_account_id,
    aws_region as mint_region,
    copies,
    identity_type as caller_type,
    identity_arn as caller_arn,
    principal_id as caller_principal_id,
    caller_account_id,
    caller_access_key_id,
    invoked_by as caller_invoked_by,
    source_ip,
    user_agent,
    issued_type,
    issued_arn,
    case
        when event_name = 'AssumeRoot' then target_account
        when event_name in ('GetSessionToken', 'GetFederationToken') then caller_account_id
        else split_part(issued_arn, ':', 5)
    end as issued_account_id,
    role_arn,
    session_name,
    coalesce(own_source_identity, caller_source_identity) as source_identity,
    identity_provider
from issued
order by minted_at, access_key_id

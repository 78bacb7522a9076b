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
-- (principalArn, else the assertion's issuer) or the web identity provider. With a pivot (the
-- timeline's parameters; all null: every call), only the calls made in the span its walk can
-- reach (credential_span).
-- inputs: event_store, credential_span
-- outputs: access_key_id, minted_at, mint_event_id, mint_event_name, mint_account_id,
-- mint_region, copies, caller_type, caller_arn, caller_principal_id, caller_account_id,
-- caller_access_key_id, caller_invoked_by, source_ip, user_agent, issued_type, issued_arn,
-- issued_account_id, role_arn, session_name, source_identity, identity_provider
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null, follow = null
-- tags: credentials, lineage

with
/* filtered on stored columns first: only these calls' records are read, from event_store as the
   text they are (the events view types them JSON, which parses each once more), each parsed
   once for every field below (DuckDB's json_extract_string with a list of paths; Spark's
   get_json_object, once a path; materialized, or DuckDB parses again for each field). Both
   spellings: CloudTrail writes camelCase, the API names are PascalCase. */
calls as materialized (
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
        json_extract_string(record, [
            '$.responseElements.credentials.accessKeyId',
            '$.responseElements.Credentials.AccessKeyId',
            '$.responseElements.assumedRoleUser.arn',
            '$.responseElements.federatedUser.arn',
            '$.requestParameters.roleArn',
            '$.requestParameters.roleSessionName',
            '$.requestParameters.name',
            '$.requestParameters.targetPrincipal',
            '$.requestParameters.TargetPrincipal',
            '$.responseElements.sourceIdentity',
            '$.responseElements.SourceIdentity',
            '$.requestParameters.sourceIdentity',
            '$.requestParameters.principalArn',
            '$.responseElements.issuer',
            '$.responseElements.provider',
            '$.userIdentity.identityProvider'
        ]) as f
    from event_store
    join credential_span as span on event_time between span.first_call and span.last_call
    where event_source = 'sts.amazonaws.com'
      and event_name in ('AssumeRole', 'AssumeRoleWithSAML', 'AssumeRoleWithWebIdentity',
                         'GetSessionToken', 'GetFederationToken', 'AssumeRoot')
      and error_code is null
),
fields as (
    select
        * exclude (f),
        nullif(coalesce(f[1], f[2]), '') as issued_key,
        coalesce(f[3], f[4]) as response_arn,
        f[5] as role_arn,
        coalesce(f[6], f[7]) as session_name,
        regexp_extract(coalesce(f[8], f[9]), '([0-9]{12})', 1) as target_account,
        coalesce(f[10], f[11], f[12]) as own_source_identity,
        case event_name
            when 'AssumeRoleWithSAML' then coalesce(f[13], f[14])
            when 'AssumeRoleWithWebIdentity' then coalesce(f[15], f[16])
        end as identity_provider
    from calls
),
/* the copy that names the caller's key first, then the caller's own account's copy (an
   aggregate: a window sorted every call with all its columns) */
chosen as (
    select
        issued_key,
        count(*) as copies,
        arg_min(event_id, (case when caller_access_key_id is null then 1 else 0 end,
                           case when recipient_account_id = caller_account_id then 0 else 1 end,
                           event_time, event_id)) as event_id
    from fields
    where issued_key is not null
    group by issued_key
),
ranked as (
    select
        f.*,
        c.copies
    from fields as f
    join chosen as c on c.event_id = f.event_id and c.issued_key = f.issued_key
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

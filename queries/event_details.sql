-- title: Events as evidence: who did what to what, from where, and what came of it
-- description: One row per event whose eventID is in $event_ids (comma-separated, as a finding's
-- evidence_event_ids), in time order: when; the account that received it; region; the caller
-- (principal: its ARN, else the invoking service, principal ID or identity type) and the key
-- that signed it; the call; what it named (parameters: the request parameters that name what
-- the call touched, by their names in the record, such as bucketName, queueUrl, userName,
-- policyArn, targetPrincipal, accountId, servicePrincipal; a sign-in's result and MFAUsed;
-- and the access key a CreateAccessKey created or an STS call issued, as `name=value; ...`;
-- where the record has none of them, its request parameters as compact JSON; at most 300
-- characters either way); source IP, user agent, error code and message. Every text here is
-- the log's own: attacker-controlled.
-- inputs: events
-- outputs: event_id, event_time, account_id, aws_region, principal, access_key_id, event_source,
-- event_name, parameters, source_ip, user_agent, error_code, error_message
-- params: event_ids
-- tags: evidence, reports

with
/* the events asked for: unnest(string_split(...)) is DuckDB's, explode(split(...)) Spark's */
wanted as (
    select distinct trim(id) as event_id
    from (select unnest(string_split($event_ids, ',')) as id) as ids
    where trim(id) <> ''
),
picked as (
    select e.*
    from wanted as w
    join events as e on e.event_id = w.event_id
),
/* `->>` is DuckDB's JSON path (Spark: get_json_object); concat_ws skips the names a record
   lacks (`||` with a null is null in both), so each event shows only what it has. The names
   are those CloudTrail records use: S3, SQS, SNS, IAM, STS, Organizations, CloudTrail, KMS,
   Secrets Manager, Lambda, DynamoDB, RDS, EC2, CloudWatch Logs, CloudFormation. */
named as (
    select
        p.*,
        concat_ws('; ',
            'bucketName=' || (request_parameters ->> '$.bucketName'),
            'key=' || (request_parameters ->> '$.key'),
            'queueUrl=' || (request_parameters ->> '$.queueUrl'),
            'queueName=' || (request_parameters ->> '$.queueName'),
            'topicArn=' || (request_parameters ->> '$.topicArn'),
            'userName=' || (request_parameters ->> '$.userName'),
            'roleName=' || (request_parameters ->> '$.roleName'),
            'groupName=' || (request_parameters ->> '$.groupName'),
            'policyArn=' || (request_parameters ->> '$.policyArn'),
            'policyName=' || (request_parameters ->> '$.policyName'),
            'instanceProfileName=' || (request_parameters ->> '$.instanceProfileName'),
            'serialNumber=' || (request_parameters ->> '$.serialNumber'),
            'virtualMFADeviceName=' || (request_parameters ->> '$.virtualMFADeviceName'),
            'accessKeyId=' || (request_parameters ->> '$.accessKeyId'),
            'certificateId=' || (request_parameters ->> '$.certificateId'),
            'roleArn=' || (request_parameters ->> '$.roleArn'),
            'roleSessionName=' || (request_parameters ->> '$.roleSessionName'),
            'targetPrincipal=' || (request_parameters ->> '$.targetPrincipal'),
            'taskPolicyArn=' || (request_parameters ->> '$.taskPolicyArn.arn'),
            'durationSeconds=' || (request_parameters ->> '$.durationSeconds'),
            'accountId=' || (request_parameters ->> '$.accountId'),
            'accountName=' || (request_parameters ->> '$.accountName'),
            'targetId=' || (request_parameters ->> '$.targetId'),
            'policyId=' || (request_parameters ->> '$.policyId'),
            'servicePrincipal=' || (request_parameters ->> '$.servicePrincipal'),
            'parentId=' || (request_parameters ->> '$.parentId'),
            'destinationParentId=' || (request_parameters ->> '$.destinationParentId'),
            'handshakeId=' || (request_parameters ->> '$.handshakeId'),
            'name=' || (request_parameters ->> '$.name'),
            'trailName=' || (request_parameters ->> '$.trailName'),
            'keyId=' || (request_parameters ->> '$.keyId'),
            'secretId=' || (request_parameters ->> '$.secretId'),
            'functionName=' || (request_parameters ->> '$.functionName'),
            'tableName=' || (request_parameters ->> '$.tableName'),
            'dBInstanceIdentifier=' || (request_parameters ->> '$.dBInstanceIdentifier'),
            'dBSnapshotIdentifier=' || (request_parameters ->> '$.dBSnapshotIdentifier'),
            'snapshotId=' || (request_parameters ->> '$.snapshotId'),
            'imageId=' || (request_parameters ->> '$.imageId'),
            'groupId=' || (request_parameters ->> '$.groupId'),
            'logGroupName=' || (request_parameters ->> '$.logGroupName'),
            'stackName=' || (request_parameters ->> '$.stackName'),
            /* a sign-in's outcome and MFA, from its response and additional data */
            case when event_source = 'signin.amazonaws.com'
                 then 'result=' || (response_elements ->> ('$.' || event_name)) end,
            'MFAUsed=' || (additional_event_data ->> '$.MFAUsed'),
            'created accessKeyId=' || (response_elements ->> '$.accessKey.accessKeyId'),
            'issued accessKeyId=' || (response_elements ->> '$.credentials.accessKeyId')
        ) as named_parameters
    from picked as p
),
described as (
    select
        *,
        case
            when named_parameters <> '' then named_parameters
            when cast(request_parameters as varchar) not in ('{}', 'null')
                then cast(request_parameters as varchar)
        end as described
    from named
)
select
    event_id,
    event_time,
    recipient_account_id as account_id,
    aws_region,
    coalesce(identity_arn, invoked_by, principal_id, identity_type) as principal,
    nullif(access_key_id, '') as access_key_id,
    event_source,
    event_name,
    case when length(described) > 300 then left(described, 299) || '…' else described end
        as parameters,
    source_ip,
    user_agent,
    error_code,
    error_message
from described
order by event_time, event_id

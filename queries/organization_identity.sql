-- title: The management account and organization ID: what the logs show, where they contradict you
-- description: One row per way the logs reveal the management account (successful calls only
-- the management account may make, handshake ARNs, DescribeOrganization responses when
-- logged) or the organization ID (organization trail paths AWSLogs/<o-id>/, root access
-- feature responses, DescribeOrganization responses, handshake ARNs), with when and how often
-- (observations counts events, or files for trail paths), plus one row per value you state.
-- State them with $management_account and $organization_id (empty: not stated). verdict:
-- 'agrees with the stated value', 'contradicts the stated value', 'observed' (nothing
-- stated), 'the logs name more than one' (nothing stated, the logs disagree); on a stated row
-- 'confirmed by the logs', 'contradicted by the logs' or 'not seen in the logs'.
-- inputs: events, event_sources, files
-- outputs: fact, value, source, first_seen, last_seen, observations, example_evidence, verdict
-- params: management_account, organization_id
-- tags: organization, identity, contradictions

with
-- >>> shared org_evidence (the same text in every module that has it; a test checks)
/* The window the logs cover: before and after it nothing is known. */
log_window as (
    select min(event_time) as first_event, max(event_time) as last_event
    from events
),
/* The calls that change or reveal the organization's state, with every field the modules read
   from the JSON columns. `->>` and `->` are DuckDB's JSON path operators (Spark:
   get_json_object); they appear only here. Field names are read in both spellings where AWS
   writes the API name differently (aWSServiceName in real records, AWSServiceName in docs). */
org_events as (
    select
        event_id,
        event_time,
        event_name,
        aws_region,
        recipient_account_id,
        invoked_by,
        source_ip,
        coalesce(identity_arn, invoked_by) as actor,
        coalesce(identity_account_id, recipient_account_id) as actor_account,
        coalesce(
            service_event_details ->> '$.createAccountStatus.state', ''
        ) <> 'FAILED' and error_code is null as succeeded,
        coalesce(
            error_code, service_event_details ->> '$.createAccountStatus.failureReason'
        ) as error_code,
        request_parameters ->> '$.servicePrincipal' as p_service_principal,
        request_parameters ->> '$.accountId' as p_account_id,
        coalesce(
            request_parameters ->> '$.aWSServiceName', request_parameters ->> '$.AWSServiceName'
        ) as p_aws_service_name,
        request_parameters ->> '$.roleName' as p_role_name,
        request_parameters ->> '$.target.id' as p_target_id,
        request_parameters ->> '$.target.type' as p_target_type,
        request_parameters ->> '$.accountName' as p_account_name,
        response_elements ->> '$.role.roleName' as r_role_name,
        response_elements ->> '$.handshake.action' as r_handshake_action,
        response_elements ->> '$.handshake.arn' as r_handshake_arn,
        coalesce(
            response_elements ->> '$.organizationId',
            response_elements ->> '$.OrganizationId',
            response_elements ->> '$.organization.id'
        ) as r_organization_id,
        coalesce(
            response_elements ->> '$.organization.managementAccountId',
            response_elements ->> '$.organization.masterAccountId'
        ) as r_management_account,
        cast(coalesce(
            response_elements -> '$.enabledFeatures', response_elements -> '$.EnabledFeatures'
        ) as varchar) as r_enabled_features,
        service_event_details ->> '$.createAccountStatus.accountId' as r_created_account,
        service_event_details ->> '$.createAccountStatus.state' as r_create_state
    from events
    where (event_source = 'organizations.amazonaws.com' and event_name in (
            'EnableAWSServiceAccess', 'DisableAWSServiceAccess',
            'RegisterDelegatedAdministrator', 'DeregisterDelegatedAdministrator',
            'EnableAllFeatures', 'AcceptHandshake', 'InviteAccountToOrganization',
            'CreateAccount', 'CreateAccountResult', 'CreateOrganization',
            'RemoveAccountFromOrganization', 'LeaveOrganization', 'CloseAccount',
            'DescribeOrganization'))
       or (event_source = 'iam.amazonaws.com' and event_name in (
            'EnableOrganizationsRootCredentialsManagement',
            'DisableOrganizationsRootCredentialsManagement',
            'EnableOrganizationsRootSessions', 'DisableOrganizationsRootSessions',
            'CreateServiceLinkedRole', 'DeleteServiceLinkedRole'))
),
/* Files of an organization trail: AWSLogs/<o-id>/<account>/CloudTrail/. The account is in
   the organization while its events are delivered there. regexp_extract gives '' when nothing
   matches (DuckDB and Spark alike); strpos is Spark's instr. */
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
org_trail_members as (
    select
        f.organization_id,
        f.account_id,
        min(e.event_time) as first_seen,
        max(e.event_time) as last_seen,
        count(distinct f.file_id) as files,
        /* the S3 key from AWSLogs/ on: the same wherever the files were copied */
        min(substr(replace(f.path, '\', '/'),
                   strpos(replace(f.path, '\', '/'), '/AWSLogs/') + 1)) as example_key
    from org_trail_files f
    join event_sources s on s.file_id = f.file_id
    join events e on e.event_id = s.event_id
    group by f.organization_id, f.account_id
),
/* Who the management account is, by what only it can do: calls only the management account
   may make that succeeded (DeregisterDelegatedAdministrator is left out: for IAM the delegated
   administrator may call it), the account in handshake ARNs
   (arn:aws:organizations::<management>:handshake/...), and DescribeOrganization responses
   where they are logged (read-only responses usually are not). */
management_evidence as (
    select actor_account as account_id, 'management-only call succeeded' as source,
           event_time, event_id
    from org_events
    where succeeded and event_name in (
        'EnableAWSServiceAccess', 'DisableAWSServiceAccess', 'RegisterDelegatedAdministrator',
        'CreateAccount', 'CreateAccountResult', 'InviteAccountToOrganization',
        'RemoveAccountFromOrganization', 'CloseAccount', 'EnableAllFeatures',
        'CreateOrganization')
    union all
    select r_management_account, 'DescribeOrganization response', event_time, event_id
    from org_events
    where r_management_account is not null
    union all
    select split_part(r_handshake_arn, ':', 5), 'handshake ARN', event_time, event_id
    from org_events
    where r_handshake_arn like 'arn:%:organizations::%:handshake/%'
),
management_ranked as (
    select
        account_id,
        event_time,
        event_id,
        row_number() over (partition by account_id order by event_time, event_id) as n
    from management_evidence
    where account_id is not null and account_id <> ''
),
management_candidates as (
    select
        account_id,
        count(*) as observations,
        max(case when n = 1 then event_id end) as first_evidence
    from management_ranked
    group by account_id
),
/* The management account when the logs name exactly one; NULL (unknown) otherwise. */
management as (
    select case when count(*) = 1 then min(account_id) end as account_id
    from management_candidates
),
-- <<< shared org_evidence
sightings as (
    select 'management_account' as fact, account_id as value, source,
           event_time as first_seen, event_time as last_seen, 1 as weight,
           event_id as evidence
    from management_evidence
    where account_id is not null and account_id <> ''
    union all
    select 'organization_id', organization_id, 'organization trail path',
           first_seen, last_seen, files, example_key
    from org_trail_members
    union all
    select 'organization_id', r_organization_id,
           case when event_name = 'DescribeOrganization' then 'DescribeOrganization response'
                else 'root access feature response' end,
           event_time, event_time, 1, event_id
    from org_events
    where succeeded and r_organization_id is not null
    union all
    select 'organization_id', split_part(split_part(r_handshake_arn, ':', 6), '/', 2),
           'handshake ARN', event_time, event_time, 1, event_id
    from org_events
    where r_handshake_arn like 'arn:%:organizations::%:handshake/o-%'
),
ranked as (
    select
        *,
        row_number() over (
            partition by fact, value, source order by first_seen, evidence) as n
    from sightings
),
observed as (
    select
        fact,
        value,
        source,
        min(first_seen) as first_seen,
        max(last_seen) as last_seen,
        cast(sum(weight) as bigint) as observations,
        max(case when n = 1 then evidence end) as example_evidence
    from ranked
    group by fact, value, source
),
stated as (
    select 'management_account' as fact,
           nullif(trim(coalesce(cast($management_account as varchar), '')), '') as value
    union all
    select 'organization_id',
           nullif(trim(coalesce(cast($organization_id as varchar), '')), '')
),
values_per_fact as (
    select fact, count(distinct value) as n_values
    from observed
    group by fact
),
result as (
    select
        o.fact,
        o.value,
        o.source,
        o.first_seen,
        o.last_seen,
        o.observations,
        o.example_evidence,
        case
            when s.value is not null and o.value = s.value then 'agrees with the stated value'
            when s.value is not null then 'contradicts the stated value'
            when v.n_values > 1 then 'the logs name more than one'
            else 'observed'
        end as verdict
    from observed o
    join stated s on s.fact = o.fact
    join values_per_fact v on v.fact = o.fact
    union all
    select
        s.fact,
        s.value,
        'stated by the user',
        cast(null as timestamptz),
        cast(null as timestamptz),
        cast(null as bigint),
        cast(null as varchar),
        case
            when count(o.value) = 0 then 'not seen in the logs'
            when count(case when o.value = s.value then 1 end) > 0 then 'confirmed by the logs'
            else 'contradicted by the logs'
        end
    from stated s
    left join observed o on o.fact = s.fact
    where s.value is not null
    group by s.fact, s.value
)
select *
from result
order by fact, value, source

-- title: The calls that change or reveal the organization's state, with the fields they carry
-- description: One row per event of an Organizations or IAM call that changes or reveals the
-- organization's access state (trusted access, delegated administrators, service-linked roles,
-- the centralized root access features, membership, DescribeOrganization), succeeded or not,
-- with the request, response and service-event fields the organization modules read: p_* from
-- requestParameters, r_* from responseElements or serviceEventDetails. actor is the caller's
-- ARN (or the invoking service); succeeded is false for an error or a FAILED
-- CreateAccountResult, whose failure reason is then error_code. The only module that reads the
-- JSON columns for the organization: the others read this one.
-- inputs: events
-- outputs: event_id, event_time, event_name, aws_region, recipient_account_id, invoked_by,
-- source_ip, actor, actor_account, succeeded, error_code, p_service_principal, p_account_id,
-- p_aws_service_name, p_role_name, p_target_id, p_target_type, p_account_name, r_role_name,
-- r_handshake_action, r_handshake_arn, r_organization_id, r_management_account,
-- r_enabled_features, r_created_account, r_create_state
-- tags: organization, events

/* `->>` and json_extract are DuckDB's JSON paths (trailscope.dialect renders them in Spark);
   among the organization modules they appear only here (`->` is json_extract too, but sqlglot
   reads it inside a function call as a lambda). Field names are read in both spellings where AWS
   writes the API name differently (aWSServiceName in real records, AWSServiceName in docs). */
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
        json_extract(response_elements, '$.enabledFeatures'),
        json_extract(response_elements, '$.EnabledFeatures')
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
order by event_time, event_id

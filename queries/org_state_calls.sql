-- title: Every call that changes the organization's access state, classified
-- description: One row per call that changes (or tried to change) trusted access, delegated
-- administrators, service-linked roles, the centralized root access features or membership,
-- succeeded or not, with what it is about: kind and subject (the service principal, root
-- access feature, role name, or 'organization' for membership), account_id (the account
-- registered, removed, invited, created, joined, or holding the role; empty for trusted access
-- and the root access features), and effect, the state it sets when it succeeds (true: on,
-- registered, exists, member; false: the opposite; empty: it is evidence but sets nothing by
-- itself, e.g. an invitation). by_service says whether the service the change is about made
-- the call itself (invokedBy or sourceIPAddress equal to its service principal: trusted
-- access, service-linked roles); detail is what else the call names. Whether the caller was
-- allowed is judged in org_state_changes.
-- inputs: org_events
-- outputs: event_id, event_time, aws_region, actor, actor_account, invoked_by, source_ip,
-- succeeded, error_code, action, kind, subject, account_id, effect, by_service, detail
-- tags: organization, state, changes

select
    event_id,
    event_time,
    aws_region,
    actor,
    actor_account,
    invoked_by,
    source_ip,
    succeeded,
    error_code,
    event_name as action,
    case
        when event_name in ('EnableAWSServiceAccess', 'DisableAWSServiceAccess')
            then 'trusted_access'
        when event_name in ('RegisterDelegatedAdministrator',
                            'DeregisterDelegatedAdministrator')
            then 'delegated_admin'
        when event_name like '%OrganizationsRoot%' then 'root_feature'
        when event_name in ('CreateServiceLinkedRole', 'DeleteServiceLinkedRole',
                            'EnableAllFeatures')
            then 'service_linked_role'
        when event_name = 'AcceptHandshake' and r_handshake_action in (
            'ENABLE_ALL_FEATURES', 'APPROVE_ALL_FEATURES',
            'ADD_ORGANIZATIONS_SERVICE_LINKED_ROLE')
            then 'service_linked_role'
        else 'membership'
    end as kind,
    case
        when event_name in ('EnableAWSServiceAccess', 'DisableAWSServiceAccess',
                            'RegisterDelegatedAdministrator',
                            'DeregisterDelegatedAdministrator')
            then p_service_principal
        when event_name like '%OrganizationsRoot%'
            then replace(replace(event_name, 'EnableOrganizations', ''),
                         'DisableOrganizations', '')
        when event_name = 'CreateServiceLinkedRole' then r_role_name
        when event_name = 'DeleteServiceLinkedRole' then p_role_name
        when event_name = 'EnableAllFeatures' or r_handshake_action in (
            'ENABLE_ALL_FEATURES', 'APPROVE_ALL_FEATURES',
            'ADD_ORGANIZATIONS_SERVICE_LINKED_ROLE')
            then 'AWSServiceRoleForOrganizations'
        else 'organization'
    end as subject,
    case
        when event_name in ('RegisterDelegatedAdministrator',
                            'DeregisterDelegatedAdministrator',
                            'RemoveAccountFromOrganization', 'CloseAccount')
            then p_account_id
        when event_name in ('CreateServiceLinkedRole', 'DeleteServiceLinkedRole')
            then recipient_account_id
        when event_name in ('AcceptHandshake', 'LeaveOrganization', 'CreateOrganization')
            then actor_account
        when event_name = 'CreateAccountResult' then r_created_account
        when event_name = 'InviteAccountToOrganization' and p_target_type = 'ACCOUNT'
            then p_target_id
    end as account_id,
    case
        when event_name in ('EnableAWSServiceAccess', 'RegisterDelegatedAdministrator',
                            'EnableOrganizationsRootCredentialsManagement',
                            'EnableOrganizationsRootSessions', 'CreateServiceLinkedRole',
                            'CreateAccountResult', 'CreateOrganization')
            then true
        when event_name = 'AcceptHandshake' and r_handshake_action = 'INVITE' then true
        /* CloseAccount: the account is suspended and unusable from then on; that it stays
           listed in the organization for a while is not modelled */
        when event_name in ('DisableAWSServiceAccess', 'DeregisterDelegatedAdministrator',
                            'DisableOrganizationsRootCredentialsManagement',
                            'DisableOrganizationsRootSessions', 'DeleteServiceLinkedRole',
                            'RemoveAccountFromOrganization', 'LeaveOrganization',
                            'CloseAccount')
            then false
    end as effect,
    case
        when event_name in ('EnableAWSServiceAccess', 'DisableAWSServiceAccess')
            then coalesce(invoked_by = p_service_principal
                          or source_ip = p_service_principal, false)
        when event_name = 'CreateServiceLinkedRole'
            then coalesce(invoked_by = p_aws_service_name
                          or source_ip = p_aws_service_name, false)
    end as by_service,
    case
        when event_name = 'CreateServiceLinkedRole' then p_aws_service_name
        when event_name = 'AcceptHandshake' then r_handshake_action
        when event_name = 'InviteAccountToOrganization'
            then p_target_type || ' ' || p_target_id
        when event_name = 'CreateAccount' then p_account_name
        when event_name = 'CreateAccountResult' then r_create_state
    end as detail
from org_events
where event_name <> 'DescribeOrganization'
order by event_time, event_id

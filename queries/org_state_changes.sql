-- title: Every attempted change to the organization's access state, and whether it was allowed
-- description: One row per call that changes (or tried to change) trusted access, delegated
-- administrators, service-linked roles, the centralized root access features or membership,
-- succeeded or failed: a denied call is evidence too. caller_allowed says whether the caller's
-- account may make the call (management-only calls; deregistration by the management account
-- or, for IAM, by the IAM delegated administrator itself; disabling a root access feature by
-- the management account or the IAM delegated administrator, enabling one by the management
-- account; CloseAccount by the management account, and perhaps by a delegated administrator),
-- false too when AWS refused the call saying the caller is not the management account
-- (CallerIsNotManagementAccount, AccountNotManagementOrDelegatedAdministrator), and empty when
-- it rests on something the logs do not show (the management account, who the IAM delegated
-- administrator was, or what AWS does not document). by_service says whether the service the
-- change is about made the call itself, with invokedBy or sourceIPAddress equal to its service
-- principal (trusted access; service-linked roles). concern names what a responder should
-- look at (caller_not_allowed, service_bypassed, organizations_role_deleted,
-- organizations_role_recreated; check_org_changes turns them into findings), finding says it
-- in words; neither is ever set on an unknown.
-- inputs: org_state_calls, org_state_intervals, org_management_account
-- outputs: event_time, event_id, kind, action, subject, account_id, detail, outcome,
-- error_code, actor, actor_account, invoked_by, source_ip, aws_region, by_service,
-- caller_allowed, concern, finding
-- tags: organization, state, changes, findings

with
/* The management account when the logs name exactly one; NULL (unknown) otherwise. */
management as (
    select max(case when known then account_id end) as account_id
    from org_management_account
),
/* org_state_calls, read once: DuckDB computes a view each time a query names it,
   a CTE named more than once only once */
changes as (
    select *
    from org_state_calls
),
/* The caller's state as IAM delegated administrator just before its call. */
caller_as_iam_admin as (
    select c.event_id, i.active, i.known
    from changes c
    join org_state_intervals i
        on i.kind = 'delegated_admin'
       and i.subject = 'iam.amazonaws.com'
       and i.account_id = c.actor_account
       and i.start_time < c.event_time
       and c.event_time <= i.end_time
    where c.kind in ('delegated_admin', 'root_feature')
),
/* Who may make each call: the Organizations API reference ("This operation can be called only
   from the organization's management account": EnableAWSServiceAccess,
   DisableAWSServiceAccess, RegisterDelegatedAdministrator, DeregisterDelegatedAdministrator,
   CreateAccount, InviteAccountToOrganization, RemoveAccountFromOrganization,
   EnableAllFeatures), the IAM User Guide (the IAM delegated administrator may deregister
   itself; delegated administrators may close member accounts: for which services is not
   documented), and the IAM API reference: the Enable root access feature calls answer
   CallerIsNotManagementAccount to any other account, the Disable calls
   AccountNotManagementOrDelegatedAdministrator to an account that is neither. */
refused_as_not_management as (
    select event_id
    from changes
    where error_code in ('CallerIsNotManagementAccount',
                         'CallerIsNotManagementAccountException',
                         'AccountNotManagementOrDelegatedAdministrator',
                         'AccountNotManagementOrDelegatedAdministratorException')
),
judged as (
    select
        c.*,
        case
            /* AWS's own answer comes first: it settles what the logs' state may not */
            when c.event_id in (select event_id from refused_as_not_management) then false
            when c.action in ('EnableAWSServiceAccess', 'DisableAWSServiceAccess',
                              'RegisterDelegatedAdministrator', 'CreateAccount',
                              'InviteAccountToOrganization', 'RemoveAccountFromOrganization',
                              'EnableAllFeatures')
                then c.actor_account = m.account_id
            /* a delegated administrator may close member accounts too (IAM User Guide) */
            when c.action = 'CloseAccount'
                then case when c.actor_account = m.account_id then true end
            when c.action = 'DeregisterDelegatedAdministrator' then case
                when c.actor_account = m.account_id then true
                when c.subject = 'iam.amazonaws.com' and c.account_id = c.actor_account
                     and a.active then true
                when m.account_id is null then null
                /* the IAM delegated administrator deregistering itself, at an unknown state */
                when c.subject = 'iam.amazonaws.com' and c.account_id = c.actor_account
                     and not coalesce(a.known and not a.active, false) then null
                else false
            end
            when c.kind = 'root_feature' then case
                when c.actor_account = m.account_id then true
                /* the IAM delegated administrator may disable; whether it may enable is not
                   documented beyond the refusal above */
                when a.active and c.action like 'Disable%' then true
                when a.active then null
                when m.account_id is null then null
                when a.known and not a.active then false
            end
            /* the management account cannot leave; it can only delete the organization */
            when c.action = 'LeaveOrganization' then c.actor_account <> m.account_id
        end as caller_allowed
    from changes c
    cross join management m
    left join caller_as_iam_admin a on a.event_id = c.event_id
),
concerns as (
    select
        j.*,
        case
            when not j.caller_allowed then 'caller_not_allowed'
            /* IAM's trusted access can only be disabled through Organizations (Organizations
               User Guide, "AWS Identity and Access Management and AWS Organizations"). */
            when j.action = 'DisableAWSServiceAccess' and j.succeeded and not j.by_service
                 and j.subject <> 'iam.amazonaws.com' then 'service_bypassed'
            when j.action = 'DeleteServiceLinkedRole' and j.succeeded
                 and j.subject = 'AWSServiceRoleForOrganizations'
                then 'organizations_role_deleted'
            when j.action = 'CreateServiceLinkedRole' and j.succeeded
                 and j.subject = 'AWSServiceRoleForOrganizations'
                 and exists (
                     select 1
                     from changes d
                     where d.action = 'DeleteServiceLinkedRole'
                       and d.succeeded
                       and d.subject = j.subject
                       and d.account_id = j.account_id
                       and d.event_time < j.event_time)
                then 'organizations_role_recreated'
        end as concern
    from judged j
),
result as (
    select
        j.event_time,
        j.event_id,
        j.kind,
        j.action,
        j.subject,
        j.account_id,
        j.detail,
        case when j.succeeded then 'succeeded' else 'failed' end as outcome,
        j.error_code,
        j.actor,
        j.actor_account,
        j.invoked_by,
        j.source_ip,
        j.aws_region,
        j.by_service,
        j.caller_allowed,
        j.concern,
        case j.concern
            when 'caller_not_allowed' then case
                when j.error_code in ('CallerIsNotManagementAccount',
                                      'CallerIsNotManagementAccountException')
                    then 'AWS refused it: the caller is not the management account'
                when j.error_code in ('AccountNotManagementOrDelegatedAdministrator',
                                      'AccountNotManagementOrDelegatedAdministratorException')
                    then 'AWS refused it: the caller is neither the management account nor '
                         || 'the IAM delegated administrator'
                when j.action = 'DeregisterDelegatedAdministrator'
                    then 'only the management account, or for IAM the delegated administrator '
                         || 'itself, may deregister'
                when j.kind = 'root_feature'
                    then 'caller is neither the management account nor the IAM delegated '
                         || 'administrator'
                when j.action = 'LeaveOrganization'
                    then 'the management account cannot leave its organization'
                else 'caller is outside the management account'
            end
            when 'service_bypassed'
                then 'disabled through Organizations directly, not by the service: '
                     || 'the service could not clean up'
            when 'organizations_role_deleted' then 'AWSServiceRoleForOrganizations deleted'
            when 'organizations_role_recreated' then 'AWSServiceRoleForOrganizations recreated'
        end as finding
    from concerns j
)
select *
from result
order by event_time, event_id

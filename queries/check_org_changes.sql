-- title: Findings: who changed the organization's access configuration, and were they allowed
-- description: The organization-change check, in the common findings shape, over every
-- attempted change of org_state_changes (trusted access, delegated administrators, the root
-- access features, service-linked roles, membership), refused ones included: a refused
-- escalation attempt is evidence too. Rule refused_change: a caller that may not make the
-- change tried it and AWS refused (medium; low when whether it may is unknown, e.g. the logs
-- name no management account). disallowed_change: AWS granted a change the caller may not
-- make as the logs see the organization (high): the logs' view of the organization or the
-- record is wrong. unverifiable_change: a change of trusted access, a delegated administrator
-- or a root access feature succeeded and whether its caller may make it is unknown (info).
-- Rule service_bypassed: trusted access for a service disabled through Organizations
-- directly, so the service could not clean up (medium). organizations_role_deleted (medium) and
-- organizations_role_recreated (low): AWSServiceRoleForOrganizations removed from, or put back
-- in, a member account. Each explanation says how sure the organization's state is (how many
-- events name the management account, whether the IAM delegated administrator was seen
-- registered). Evidence: the call; context: the first event naming the management account
-- and the events behind the delegated administrator's state.
-- inputs: org_state_changes, org_management_account, org_state_intervals
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, organization, changes

with
changes as (
    select *
    from org_state_changes
),
/* what the logs say of the management account: one name (known), several, or none */
management as (
    select
        max(case when known then account_id end) as account_id,
        max(case when known then observations end) as observations,
        max(case when known then first_evidence end) as first_evidence,
        count(*) as candidates,
        string_agg(account_id, ', ' order by account_id) as named
    from org_management_account
),
/* the caller's state as IAM delegated administrator when it called */
as_iam_admin as (
    select
        c.event_id,
        bool_or(i.active) as active,
        bool_and(i.known) as known,
        min(i.evidence_event_ids) as evidence_event_ids
    from changes c
    join org_state_intervals i
        on i.kind = 'delegated_admin'
       and i.subject = 'iam.amazonaws.com'
       and i.account_id = c.actor_account
       and c.event_time >= i.start_time
       and (c.event_time < i.end_time or (c.event_time = i.end_time and i.end_action is null))
    group by c.event_id
),
judged as (
    select
        c.*,
        m.account_id as management_account,
        m.observations,
        m.first_evidence,
        m.candidates,
        m.named,
        a.active as iam_admin,
        a.known as iam_admin_known,
        a.evidence_event_ids as iam_admin_ev,
        case
            when c.concern is not null then c.concern
            when c.caller_allowed is null and c.outcome = 'failed'
                 and coalesce(c.error_code like '%AccessDenied%'
                              or c.error_code like '%Unauthorized%', false)
                then 'caller_unknown_refused'
            when c.caller_allowed is null and c.outcome = 'succeeded'
                 and c.kind in ('trusted_access', 'delegated_admin', 'root_feature')
                then 'caller_unknown_granted'
        end as reason,
        /* the change in words */
        case
            when c.action = 'EnableAWSServiceAccess'
                then concat('enable trusted access for ', c.subject)
            when c.action = 'DisableAWSServiceAccess'
                then concat('disable trusted access for ', c.subject)
            when c.action = 'RegisterDelegatedAdministrator'
                then concat('register ', c.account_id, ' as delegated administrator for ',
                            c.subject)
            when c.action = 'DeregisterDelegatedAdministrator'
                then concat('deregister ', c.account_id, ' as delegated administrator for ',
                            c.subject)
            when c.action = 'EnableOrganizationsRootSessions' then 'enable root sessions'
            when c.action = 'DisableOrganizationsRootSessions' then 'disable root sessions'
            when c.action = 'EnableOrganizationsRootCredentialsManagement'
                then 'enable root credentials management'
            when c.action = 'DisableOrganizationsRootCredentialsManagement'
                then 'disable root credentials management'
            when c.action = 'CreateServiceLinkedRole'
                then concat('create the service-linked role ', c.subject, ' in ', c.account_id)
            when c.action = 'DeleteServiceLinkedRole'
                then concat('delete the service-linked role ', c.subject, ' in ', c.account_id)
            else concat(c.action, coalesce(' ' || c.account_id, ''))
        end as change,
        /* who may make it, with the source */
        case
            when c.error_code like 'CallerIsNotManagementAccount%'
                then 'AWS refused it because the caller is not the management account.'
            when c.error_code like 'AccountNotManagementOrDelegatedAdministrator%'
                then 'AWS refused it because the caller is neither the management account nor '
                     || 'the IAM delegated administrator.'
            when c.action = 'DeregisterDelegatedAdministrator'
                then 'Only the management account, or for IAM the delegated administrator '
                     || 'itself, may deregister a delegated administrator.'
            when c.kind = 'root_feature'
                then 'Only the management account may enable a root access feature; the IAM '
                     || 'delegated administrator may disable one (IAM API reference).'
            when c.action = 'LeaveOrganization'
                then 'The management account cannot leave its organization.'
            when c.action = 'CloseAccount'
                then 'The management account may close member accounts, and so may delegated '
                     || 'administrators (IAM User Guide; for which services is not documented).'
            else 'Only the management account may make this call (Organizations API '
                 || 'reference).'
        end as who_may
    from changes c
    cross join management m
    left join as_iam_admin a
        on a.event_id = c.event_id
),
/* how sure the organization's state is, in words */
sureness as (
    select
        *,
        concat(
            case
                when management_account is not null
                    then concat('The logs name ', management_account, ' as the management '
                                || 'account (', observations, ' event(s), the first in '
                                || 'context).')
                when candidates > 1
                    then concat('The logs name more than one management account (', named,
                                '): which one it is, is unknown.')
                else 'The logs name no management account: ingest its trail to decide.'
            end,
            case
                when iam_admin and iam_admin_known
                    then concat(' ', actor_account, ' was then the registered IAM delegated '
                                || 'administrator.')
                when iam_admin
                    then concat(' ', actor_account, ' was then, by inference (not seen), the '
                                || 'IAM delegated administrator.')
                when iam_admin = false and iam_admin_known
                    then concat(' ', actor_account, ' was then not the IAM delegated '
                                || 'administrator.')
                when iam_admin = false
                    then concat(' ', actor_account, ' was then, by inference (not seen), not '
                                || 'the IAM delegated administrator.')
                else ''
            end) as state_note
    from judged
),
raw as (
    select
        case reason
            when 'caller_not_allowed'
                then case when outcome = 'failed' then 'refused_change'
                          else 'disallowed_change' end
            when 'caller_unknown_refused' then 'refused_change'
            when 'caller_unknown_granted' then 'unverifiable_change'
            else reason
        end as rule,
        case reason
            when 'caller_not_allowed'
                then case when outcome = 'failed' then 'medium' else 'high' end
            when 'caller_unknown_refused' then 'low'
            when 'caller_unknown_granted' then 'info'
            when 'service_bypassed' then 'medium'
            when 'organizations_role_deleted' then 'medium'
            when 'organizations_role_recreated' then 'low'
        end as severity,
        actor_account as account_id,
        actor as principal,
        cast(null as varchar) as session_id,
        event_time,
        case
            when reason in ('caller_not_allowed', 'caller_unknown_refused')
                 and outcome = 'failed'
                then concat(actor_account, ' tried to ', change, ': refused (', error_code, ')')
            when reason = 'caller_not_allowed'
                then concat(actor_account, ' managed to ', change, ', which it may not')
            when reason = 'caller_unknown_granted'
                then concat(actor_account, ' did ', change, ': whether it may cannot be '
                            || 'verified')
            when reason = 'service_bypassed'
                then concat('Trusted access for ', subject, ' disabled through Organizations '
                            || 'directly, not by the service')
            when reason = 'organizations_role_deleted'
                then concat('AWSServiceRoleForOrganizations deleted in ', account_id)
            else concat('AWSServiceRoleForOrganizations recreated in ', account_id)
        end as title,
        concat(actor, ' called ', action, ' (', change, ') from ', source_ip, ' at ',
               strftime(event_time, '%Y-%m-%dT%H:%M:%SZ'), ': ',
               case when outcome = 'failed' then concat('refused (', error_code, ')')
                    else 'it succeeded' end, '. ',
               case
                   when reason = 'caller_not_allowed'
                       then concat(who_may, ' ', state_note,
                                   case when outcome = 'failed'
                                        then ' A refused attempt to change who controls the '
                                             || 'organization''s access is what someone '
                                             || 'probing for more power does: find out who '
                                             || 'made it and why, and review the caller''s '
                                             || 'other activity.'
                                        else ' Yet AWS granted it: the logs'' view of the '
                                             || 'organization is wrong or the record is not '
                                             || 'genuine. Check the organization''s own '
                                             || 'records (ListDelegatedAdministrators, '
                                             || 'ListAWSServiceAccessForOrganization, '
                                             || 'ListOrganizationsFeatures) and the record''s '
                                             || 'origin.' end)
                   when reason = 'caller_unknown_refused'
                       then concat(who_may, ' Whether ', actor_account, ' may make this '
                                   || 'change is unknown. ', state_note,
                                   ' A refused attempt is worth a look all the same: find out '
                                   || 'who made it and why.')
                   when reason = 'caller_unknown_granted'
                       then concat(who_may, ' Whether ', actor_account, ' may make this '
                                   || 'change cannot be verified. ', state_note)
                   when reason = 'service_bypassed'
                       then 'Disabling trusted access through Organizations, not through the '
                            || 'service, keeps the service from cleaning up what it set up in '
                            || 'member accounts (Organizations User Guide). Find out why, and '
                            || 'check what the service left behind.'
                   when reason = 'organizations_role_deleted'
                       then concat('Without this role Organizations cannot manage ', account_id,
                                   ' (policies, trusted services): find out who deleted it '
                                   || 'and why.')
                   else concat('The role was put back after it had been deleted in ',
                               account_id, '.')
               end) as explanation,
        event_id as evidence_event_ids,
        nullif(concat_ws(',',
                         case when reason in ('caller_not_allowed', 'caller_unknown_refused',
                                              'caller_unknown_granted')
                              then first_evidence end,
                         case when reason in ('caller_not_allowed', 'caller_unknown_refused',
                                              'caller_unknown_granted')
                              then iam_admin_ev end), '') as context_event_ids
    from sureness
    where reason is not null
)
select *
from raw
order by event_time, rule, evidence_event_ids

-- title: The organization's access state as intervals, from the logs alone
-- description: One row per interval during which one piece of the organization's state held:
-- trusted access per service principal, delegated administrators per (account, service),
-- service-linked roles per (account, role), the centralized root access features, membership
-- per account, and the management account (known when the logs name exactly one, for the
-- whole window). Join it on time ranges: an interval holds from start_time up to but not
-- including end_time, and one whose end_action is empty runs to the end of the logs and
-- includes end_time. The logs cover a window: a state already in force at its start is
-- inferred, not seen (start_observed false), and `known` is true only when both ends rest on
-- observed changes (or the end is the end of the logs). Never rest a violation on a row whose
-- known is false. A gap in the logs (see coverage) can hide a change.
-- inputs: events, event_sources, files
-- outputs: kind, subject, account_id, active, state, start_time, end_time, start_observed,
-- end_observed, known, start_action, end_action, actor, actor_account, end_actor,
-- evidence_event_ids
-- tags: organization, state, intervals

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
-- >>> shared org_state (the same text in every module that has it; a test checks)
/* Every call that changes the state, one row per event, succeeded or not. `effect` is the
   state it sets (NULL: it is evidence but sets nothing by itself, e.g. an invitation). */
changes as (
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
),
/* Observations of a state that set nothing: they show what held at that moment.
   - The root access feature calls answer with every feature then enabled (API reference,
     EnabledFeatures), which shows the other feature's state.
   - Those features need trusted access for iam.amazonaws.com: the IAM API reference lists it
     as a prerequisite (error ServiceAccessNotEnabled), and the Organizations User Guide page
     "AWS Identity and Access Management and AWS Organizations" says enabling root access
     management enables trusted access for IAM. Either way it was on when an enable succeeded.
   - An account whose events an organization trail delivers is in the organization. */
attested as (
    select
        e.event_id,
        e.event_time,
        'root_feature' as kind,
        f.feature as subject,
        cast(null as varchar) as account_id,
        e.r_enabled_features like ('%"' || f.feature || '"%') as active,
        e.event_name || ' response' as action,
        e.actor,
        e.actor_account
    from org_events e
    join (
        select 'RootCredentialsManagement' as feature
        union all
        select 'RootSessions'
    ) f
        on f.feature <> replace(replace(e.event_name, 'EnableOrganizations', ''),
                                'DisableOrganizations', '')
    where e.succeeded
      and e.event_name like '%OrganizationsRoot%'
      and e.r_enabled_features is not null
    union all
    select event_id, event_time, 'trusted_access', 'iam.amazonaws.com', null, true,
           event_name || ' (needs trusted access)', actor, actor_account
    from org_events
    where succeeded and event_name like 'EnableOrganizationsRoot%'
    union all
    select null, min(first_seen), 'membership', 'organization', account_id, true,
           'organization trail delivery', null, null
    from org_trail_members
    group by account_id
),
evidence as (
    select event_id, event_time, kind, subject, account_id, effect as active,
           true as is_change, action, actor, actor_account
    from changes
    where succeeded and effect is not null
    union all
    select event_id, event_time, kind, subject, account_id, active,
           false, action, actor, actor_account
    from attested
),
/* A new segment starts wherever the state differs from the one before it; repeats (retries,
   re-enables, observations that agree) stay in their segment as more evidence. */
marked as (
    select
        *,
        coalesce(active <> lag(active) over same_subject, true) as opens
    from evidence
    where subject is not null
      and (account_id is not null or kind in ('trusted_access', 'root_feature'))
    window same_subject as (
        partition by kind, subject, account_id
        order by event_time, is_change desc, event_id nulls last)
),
numbered as (
    select
        *,
        sum(case when opens then 1 else 0 end) over (
            partition by kind, subject, account_id
            order by event_time, is_change desc, event_id nulls last
            rows between unbounded preceding and current row) as segment
    from marked
),
/* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join(collect_list). */
segment_evidence as (
    select
        kind,
        subject,
        account_id,
        segment,
        string_agg(event_id, ',' order by event_time, event_id) as event_ids
    from numbered
    group by kind, subject, account_id, segment
),
segments as (
    select
        h.kind,
        h.subject,
        h.account_id,
        h.segment,
        h.active,
        h.event_time as head_time,
        h.event_id as head_event_id,
        h.is_change as head_is_change,
        h.action as head_action,
        h.actor as head_actor,
        h.actor_account as head_actor_account,
        lead(h.event_time) over next_segment as next_time,
        lead(h.event_id) over next_segment as next_event_id,
        lead(h.is_change) over next_segment as next_is_change,
        lead(h.action) over next_segment as next_action,
        lead(h.actor) over next_segment as next_actor,
        s.event_ids
    from numbered h
    join segment_evidence s  /* is not distinct from: Spark's <=> */
        on s.kind = h.kind
       and s.subject = h.subject
       and s.account_id is not distinct from h.account_id
       and s.segment = h.segment
    where h.opens
    window next_segment as (partition by h.kind, h.subject, h.account_id order by h.segment)
),
raw_intervals as (
    /* before the first change: the opposite state, inferred from the change itself */
    select
        s.kind, s.subject, s.account_id,
        not s.active as active,
        w.first_event as start_time,
        s.head_time as end_time,
        false as start_observed,
        true as end_observed,
        false as known,
        cast(null as varchar) as start_action,
        s.head_action as end_action,
        cast(null as varchar) as actor,
        cast(null as varchar) as actor_account,
        s.head_actor as end_actor,
        s.head_event_id as evidence_event_ids
    from segments s
    cross join log_window w
    where s.segment = 1 and s.head_is_change and w.first_event < s.head_time
    union all
    /* each segment, until the next one or the end of the logs; a segment opened by an
       observation started at some unseen moment, so its start is not observed */
    select
        s.kind, s.subject, s.account_id,
        s.active,
        case when s.segment = 1 and not s.head_is_change then w.first_event
             else s.head_time end,
        coalesce(s.next_time, w.last_event),
        s.head_is_change,
        coalesce(s.next_is_change, false),
        s.head_is_change and coalesce(s.next_is_change, true),
        s.head_action,
        s.next_action,
        case when s.head_is_change then s.head_actor end,
        case when s.head_is_change then s.head_actor_account end,
        case when s.next_is_change then s.next_actor end,
        nullif(concat_ws(',', s.event_ids, s.next_event_id), '')
    from segments s
    cross join log_window w
    union all
    /* the management account: constant over the logs; known when exactly one is named */
    select
        'management_account', 'organization', c.account_id, true,
        w.first_event, w.last_event, false, false,
        (select count(*) from management_candidates) = 1,
        null, null, null, null, null,
        c.first_evidence
    from management_candidates c
    cross join log_window w
),
intervals as (
    select
        kind,
        subject,
        account_id,
        active,
        case
            when kind in ('trusted_access', 'root_feature')
                then case when active then 'enabled' else 'disabled' end
            when kind = 'delegated_admin'
                then case when active then 'registered' else 'not registered' end
            when kind = 'service_linked_role'
                then case when active then 'exists' else 'absent' end
            when kind = 'membership'
                then case when active then 'member' else 'not member' end
            else 'management account'
        end as state,
        start_time,
        end_time,
        start_observed,
        end_observed,
        known,
        start_action,
        end_action,
        actor,
        actor_account,
        end_actor,
        evidence_event_ids
    from raw_intervals
),
-- <<< shared org_state
result as (
    select
        kind, subject, account_id, active, state, start_time, end_time, start_observed,
        end_observed, known, start_action, end_action, actor, actor_account, end_actor,
        evidence_event_ids
    from intervals
)
select *
from result
order by kind, subject, account_id nulls first, start_time, end_time, active

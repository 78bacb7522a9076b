-- title: Findings: AssumeRoot calls their caller was not allowed to make at that moment
-- description: The caller-authorization check, against the
-- organization's state at the time of each call (org_state_intervals). AssumeRoot is allowed
-- when the caller is an IAM user or role (never root credentials) of the management account or
-- of the account registered as delegated administrator for iam.amazonaws.com, on a member
-- account other than the management account; and it needs trusted access for IAM and the
-- root access feature AWS ties the task to (task_policy_actions.feature: RootCredentialsManagement
-- for deleting root credentials, RootSessions for the privileged tasks and password recovery;
-- for auditing AWS names none, so either counts). Rule root_caller: the caller used root user
-- credentials, which AWS documents cannot call AssumeRoot (STS API reference): medium when
-- refused, high when granted. denied_call: the call failed with an access-denied error (medium;
-- high when it targeted the management account); its explanation gives the reasons the state
-- shows, marked inferred where the state was not seen set. unauthorized_call: it succeeded
-- although the caller or the target was seen not to qualify (high). granted_while_disabled: it
-- succeeded while the logs show the task's feature or trusted access for IAM disabled (low):
-- how AWS enforces these is not documented, so a call AWS granted is never called
-- unauthorized on them alone. unverifiable_call: it succeeded and a condition is unknown (no
-- state covers it, e.g. a caller whose organization is not in the logs, or it changed within
-- 5 s of the call, the clock tolerance, which the logs' times cannot order) or broken only by
-- inference, "cannot be verified" (info), never an accusation. Calls failing for other
-- reasons (Throttling, ValidationError, RegionDisabledException) are no authorization
-- finding. Evidence is the call; context the events that set the state behind a reason.
-- inputs: assume_root_calls, org_state_intervals, task_policy_actions
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, assume_root, authorization, organization

with
/* The feature each task needs (task_policies.json policies.<arn>.feature, from the IAM User
   Guide "Centralize root access for member accounts" and the IAM API reference); empty for
   IAMAuditRootUserCredentials and unknown task policies: either feature counts. */
task_features as (
    select distinct policy_arn, feature
    from task_policy_actions
),
calls as (
    select
        c.*,
        f.feature,
        coalesce(c.error_code like '%AccessDenied%' or c.error_code like '%Unauthorized%'
                 or c.error_code in ('AuthorizationError', 'Forbidden'), false) as denied,
        /* root credentials cannot call AssumeRoot (STS API reference AssumeRoot) */
        coalesce(c.caller_type = 'Root', false) as root_caller
    from assume_root_calls c
    left join task_features f
        on f.policy_arn = c.task_policy_arn
),
intervals as (
    select *
    from org_state_intervals
    where kind in ('management_account', 'root_feature', 'membership')
       or (kind = 'delegated_admin' and subject = 'iam.amazonaws.com')
       or (kind = 'trusted_access' and subject = 'iam.amazonaws.com')
),
/* Times are to the second, each on its serving host's clock: a change logged within the clock
   tolerance of the call (trailscope/task_policies.json assume_root.event_time, the 5 s of
   check_duration) may have come before or after it, and the state then is unknown. */
limits as (
    select 5 as clock_tolerance_seconds
),
/* the state at each call: an interval holds from start_time up to end_time, and to the end of
   the logs inclusive when nothing ended it (org_state_intervals); near: it began, or ended,
   within the clock tolerance of the call */
near as (
    select
        c.session_id,
        c.caller_account_id,
        c.target_account_id,
        i.*,
        coalesce(
            (i.start_observed
             and c.issued_at - i.start_time <= to_seconds(l.clock_tolerance_seconds))
            or (i.end_observed and i.end_action is not null
                and i.end_time - c.issued_at <= to_seconds(l.clock_tolerance_seconds)),
            false) as near
    from calls c
    join intervals i
        on c.issued_at >= i.start_time
       and (c.issued_at < i.end_time or (c.issued_at = i.end_time and i.end_action is null))
    cross join limits l
),
covering as (
    select
        session_id,
        caller_account_id,
        target_account_id,
        kind,
        subject,
        account_id,
        case when near then null else active end as active,
        near,
        known,
        evidence_event_ids
    from near
),
facts as (
    select
        session_id,
        min(account_id) filter (where kind = 'management_account') as management_account,
        bool_and(known) filter (where kind = 'management_account') as management_known,
        bool_or(active) filter (where kind = 'delegated_admin'
                                  and account_id = caller_account_id) as delegated,
        bool_and(known) filter (where kind = 'delegated_admin'
                                  and account_id = caller_account_id) as delegated_known,
        bool_or(near) filter (where kind = 'delegated_admin'
                                and account_id = caller_account_id) as delegated_unsettled,
        min(evidence_event_ids) filter (where kind = 'delegated_admin'
                                          and account_id = caller_account_id) as delegated_ev,
        bool_or(active) filter (where kind = 'root_feature'
                                  and subject = 'RootSessions') as sessions_on,
        bool_and(known) filter (where kind = 'root_feature'
                                  and subject = 'RootSessions') as sessions_known,
        min(evidence_event_ids) filter (where kind = 'root_feature'
                                          and subject = 'RootSessions') as sessions_ev,
        bool_or(active) filter (where kind = 'root_feature'
                                  and subject = 'RootCredentialsManagement') as credentials_on,
        bool_and(known) filter (where kind = 'root_feature'
                                  and subject = 'RootCredentialsManagement')
            as credentials_known,
        min(evidence_event_ids) filter (where kind = 'root_feature'
                                          and subject = 'RootCredentialsManagement')
            as credentials_ev,
        bool_or(active) filter (where kind = 'trusted_access') as trusted_on,
        bool_and(known) filter (where kind = 'trusted_access') as trusted_known,
        min(evidence_event_ids) filter (where kind = 'trusted_access') as trusted_ev,
        bool_or(active) filter (where kind = 'membership'
                                  and account_id = caller_account_id) as caller_member,
        bool_or(active) filter (where kind = 'membership'
                                  and account_id = target_account_id) as target_member,
        bool_and(known) filter (where kind = 'membership'
                                  and account_id = target_account_id) as target_member_known,
        min(evidence_event_ids) filter (where kind = 'membership'
                                          and account_id = target_account_id) as target_ev
    from covering
    group by session_id
),
judged as (
    select
        c.*,
        f.* exclude (session_id),  /* exclude: DuckDB's star modifier */
        /* is the caller in the organization whose state the logs hold? */
        coalesce(c.caller_account_id = f.management_account or f.caller_member is not null,
                 false) as in_organization
    from calls c
    left join facts f
        on f.session_id = c.session_id
),
/* one row per condition: ok true, false (broken) or null (unknown); known false = inferred.
   prerequisite marks the conditions whose enforcement AWS does not document (the feature,
   trusted access): a granted call is never called unauthorized on them alone. */
conditions as (
    select
        session_id,
        1 as ord,
        false as prerequisite,
        case
            when caller_account_id = management_account then true
            when not in_organization then null
            when delegated_unsettled then null
            when delegated then true
            when delegated = false then false
            when management_account is not null then false
        end as ok,
        case
            when caller_account_id = management_account then coalesce(management_known, false)
            when delegated is not null then coalesce(delegated_known, false)
            else false
        end as known,
        case
            when delegated = false
                then concat('the caller ', caller_account_id, ' was not the registered IAM '
                            || 'delegated administrator')
            else concat('the caller ', caller_account_id, ' is neither the management account (',
                        management_account, ') nor, in the logs, the IAM delegated '
                        || 'administrator')
        end as broken,
        case
            when not in_organization
                then concat('whether ', caller_account_id, ' may call AssumeRoot: the logs hold '
                            || 'no state of its organization')
            when delegated_unsettled
                then concat('whether ', caller_account_id, ' was IAM delegated administrator '
                            || '(it changed within seconds of the call, which the logs'' '
                            || 'times cannot order)')
            else concat('whether ', caller_account_id, ' was IAM delegated administrator')
        end as unknown,
        delegated_ev as context
    from judged
    union all
    select
        session_id, 2, true,
        case
            when not in_organization then null
            when feature = 'RootSessions' then sessions_on
            when feature = 'RootCredentialsManagement' then credentials_on
            when sessions_on or credentials_on then true
            when sessions_on = false and credentials_on = false then false
        end,
        case feature
            when 'RootSessions' then coalesce(sessions_known, false)
            when 'RootCredentialsManagement' then coalesce(credentials_known, false)
            else coalesce(sessions_known and credentials_known, false)
        end,
        case feature
            when 'RootSessions'
                then concat('root sessions (EnableOrganizationsRootSessions), which AWS ties to ',
                            task_policy, ', were not enabled')
            when 'RootCredentialsManagement'
                then concat('root credentials management '
                            || '(EnableOrganizationsRootCredentialsManagement), which AWS ties '
                            || 'to ', task_policy, ', was not enabled')
            else concat('neither root access feature was enabled (AWS names none for ',
                        coalesce(task_policy, 'this task'), ')')
        end,
        case feature
            when 'RootSessions' then 'whether root sessions were enabled'
            when 'RootCredentialsManagement' then 'whether root credentials management was enabled'
            else 'whether a root access feature was enabled'
        end,
        case feature
            when 'RootSessions' then sessions_ev
            when 'RootCredentialsManagement' then credentials_ev
            else nullif(concat_ws(',', credentials_ev, sessions_ev), '')
        end
    from judged
    union all
    select
        session_id, 3, true,
        case when in_organization then trusted_on end,
        coalesce(trusted_known, false),
        'trusted access for IAM (iam.amazonaws.com) was not enabled',
        'whether trusted access for IAM was enabled',
        trusted_ev
    from judged
    union all
    select
        session_id, 4, false,
        case when management_account is not null
             then target_account_id is distinct from management_account end,
        coalesce(management_known, false),
        'the target is the management account itself',
        'whether the target is the management account',
        cast(null as varchar)
    from judged
    union all
    select
        session_id, 5, false,
        case when in_organization then target_member end,
        coalesce(target_member_known, false),
        concat('the target ', target_account_id, ' was not a member account'),
        concat('whether the target ', coalesce(target_account_id, target_principal),
               ' is a member of the organization'),
        target_ev
    from judged
),
verdicts as (
    select
        session_id,
        coalesce(bool_or(ok = false and known), false) as broken_seen,
        coalesce(bool_or(ok = false and known and not prerequisite), false) as disqualified,
        coalesce(bool_or(ok = false and not known), false) as broken_inferred,
        coalesce(bool_or(ok is null), false) as unknown,
        coalesce(bool_or(ord = 4 and ok = false), false) as targets_management,
        string_agg(case when ok = false
                        then broken || case when known then '' else ' (inferred, not seen)' end
                   end, '; ' order by ord) as reasons,
        string_agg(case when ok is null then unknown end, '; ' order by ord) as unknowns
    from conditions
    group by session_id
),
/* the events behind the broken conditions, each once, in the conditions' order (unnest with
   ordinality: DuckDB; Spark's posexplode) */
context_ids as (
    select c.session_id, t.id, min(c.ord * 1000 + t.n) as pos
    from conditions c, unnest(string_split(c.context, ',')) with ordinality as t(id, n)
    where c.ok = false
    group by c.session_id, t.id
),
contexts as (
    select session_id, string_agg(id, ',' order by pos) as context
    from context_ids
    group by session_id
),
raw as (
    select
        case
            when c.root_caller then 'root_caller'
            when c.denied then 'denied_call'
            when v.disqualified then 'unauthorized_call'
            when v.broken_seen then 'granted_while_disabled'
            else 'unverifiable_call'
        end as rule,
        case
            when c.root_caller and c.outcome = 'issued' then 'high'
            when c.root_caller then 'medium'
            when c.denied and v.targets_management then 'high'
            when c.denied then 'medium'
            when v.disqualified then 'high'
            when v.broken_seen then 'low'
            else 'info'
        end as severity,
        c.caller_account_id as account_id,
        c.caller_arn as principal,
        c.session_id,
        c.issued_at as event_time,
        case
            when c.root_caller
                then concat('AssumeRoot called with the root user credentials of ',
                            c.caller_account_id, ' on ',
                            coalesce(c.target_account_id, c.target_principal),
                            case when c.outcome = 'issued'
                                 then ': granted, which AWS documents cannot happen'
                                 else concat(': refused (', c.error_code, ')') end)
            when c.denied
                then concat('AssumeRoot by ', c.caller_account_id, ' on ',
                            coalesce(c.target_account_id, c.target_principal), ' denied: ',
                            coalesce(v.reasons, case when v.unknowns is not null
                                                     then 'organization state unknown'
                                                     else 'no reason in the organization''s '
                                                          || 'state' end))
            when v.disqualified
                then concat('AssumeRoot by ', c.caller_account_id, ' on ', c.target_account_id,
                            ' granted although ', v.reasons)
            when v.broken_seen
                then concat('AssumeRoot by ', c.caller_account_id, ' on ', c.target_account_id,
                            ' granted while the logs show ', v.reasons)
            else concat('AssumeRoot by ', c.caller_account_id, ' on ', c.target_account_id,
                        ': authorization cannot be verified')
        end as title,
        trim(concat(c.caller_arn, ' called sts:AssumeRoot from ', c.source_ip, ' in ',
               c.call_region, ' at ', strftime(c.issued_at, '%Y-%m-%dT%H:%M:%SZ'), ' for ',
               c.task_policy, ' on ', c.target_principal, ': ',
               case when c.outcome = 'failed' then concat('refused (', c.error_code, ')')
                    else 'granted' end, '. ',
               case
                   when c.root_caller
                       then concat('The caller is the root user of ', c.caller_account_id,
                                   case when c.caller_access_key_id like 'AKIA%'
                                        then concat(' with its long-term access key ',
                                                    c.caller_access_key_id)
                                        when c.caller_access_key_id like 'ASIA%'
                                        then concat(' with the temporary key ',
                                                    c.caller_access_key_id)
                                        else '' end,
                                   '. Root user credentials cannot call AssumeRoot (STS API '
                                   || 'reference): only an IAM user or role of the management '
                                   || 'account or of the IAM delegated administrator can. ',
                                   case when c.outcome = 'issued'
                                        then 'A granted call contradicts AWS''s documentation: '
                                             || 'check the record against another copy of the '
                                             || 'logs and review what the issued key did.'
                                        else 'Someone holding these root credentials tried to '
                                             || 'open root power on another account: find out '
                                             || 'who, and whether the root credentials are '
                                             || 'compromised.' end)
                   when c.denied and v.reasons is not null
                       then concat('At that moment ', v.reasons, '. ')
                   when c.denied and v.unknowns is not null
                       then concat('The logs cannot tell why: ', v.unknowns, ' is unknown. ')
                   when c.denied
                       then 'The organization''s state in the logs allowed it, so the caller''s '
                            || 'own IAM policy (sts:AssumeRoot, sts:TaskPolicyArn) or an SCP '
                            || 'refused it. '
                   when v.disqualified
                       then concat('At that moment ', v.reasons, ', yet AWS granted it: the '
                                   || 'organization''s state in the logs is incomplete or the '
                                   || 'record is not genuine. ')
                   when v.broken_seen
                       then concat('The logs show that at that moment ', v.reasons,
                                   ' (seen set by the events in context), yet AWS granted it. '
                                   || 'How AWS enforces the root access features and trusted '
                                   || 'access when AssumeRoot is called is not documented, so '
                                   || 'this is no evidence the caller was not allowed: the logs '
                                   || 'may miss a change (a gap, or a trail they lack). Check '
                                   || 'the organization''s state then (org_state_at) against '
                                   || 'the management account''s own records. ')
                   else concat('Cannot be verified: ',
                               concat_ws('; ', v.unknowns,
                                         case when v.broken_inferred then v.reasons end),
                               '. Ingest the logs that show the organization''s state (its '
                               || 'management account''s trail) to decide. ')
               end,
               case
                   when c.root_caller then ''
                   when c.denied and v.targets_management
                       then 'Asking for root of the management account is never a privileged '
                            || 'task: ask the caller why.'
                   when c.denied
                       then 'Ask the caller what they meant to do; repeated refusals suggest '
                            || 'probing for root access.'
                   when v.broken_seen
                       then 'Review the session''s activity (assume_root_session_timeline).'
                   else ''
               end)) as explanation,
        c.session_id as evidence_event_ids,
        x.context as context_event_ids
    from calls c
    join verdicts v
        on v.session_id = c.session_id
    left join contexts x
        on x.session_id = c.session_id
    where c.root_caller
       or c.denied
       or (c.outcome = 'issued' and (v.broken_seen or v.broken_inferred or v.unknown))
)
select *
from raw
order by event_time, rule, evidence_event_ids

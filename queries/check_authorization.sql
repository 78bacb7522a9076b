-- title: Findings: AssumeRoot calls their caller was not allowed to make at that moment
-- description: The caller-authorization check, against the
-- organization's state at the time of each call (org_state_intervals). AssumeRoot is allowed
-- when the caller is the management account or the account registered as delegated
-- administrator for iam.amazonaws.com, root sessions are enabled, trusted access for IAM is
-- enabled, and the target is a member account other than the management account.
-- Rule denied_call: the call failed with an access-denied error (medium; high when it targeted the
-- management account); its explanation gives the reasons the state shows, marked inferred
-- where the state was not seen set. unauthorized_call: it succeeded although a condition was
-- seen broken (high). unverifiable_call: it succeeded and a condition is unknown (no state
-- covers it, e.g. a caller whose organization is not in the logs) or broken only by inference:
-- "cannot be verified" (info), never an accusation. Calls failing for other reasons
-- (Throttling, ValidationError) are no authorization finding. Evidence: the call; context:
-- the events that set the state behind a reason.
-- inputs: assume_root_calls, org_state_intervals
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, assume_root, authorization, organization

with
calls as (
    select
        *,
        coalesce(error_code like '%AccessDenied%' or error_code like '%Unauthorized%'
                 or error_code in ('AuthorizationError', 'Forbidden'), false) as denied
    from assume_root_calls
),
intervals as (
    select *
    from org_state_intervals
    where kind = 'management_account'
       or (kind = 'delegated_admin' and subject = 'iam.amazonaws.com')
       or (kind = 'root_feature' and subject = 'RootSessions')
       or (kind = 'trusted_access' and subject = 'iam.amazonaws.com')
       or kind = 'membership'
),
/* the state at each call: an interval holds from start_time up to end_time, and to the end of
   the logs inclusive when nothing ended it (org_state_intervals) */
covering as (
    select
        c.session_id,
        c.caller_account_id,
        c.target_account_id,
        i.kind,
        i.account_id,
        i.active,
        i.known,
        i.evidence_event_ids
    from calls c
    join intervals i
        on c.issued_at >= i.start_time
       and (c.issued_at < i.end_time or (c.issued_at = i.end_time and i.end_action is null))
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
        min(evidence_event_ids) filter (where kind = 'delegated_admin'
                                          and account_id = caller_account_id) as delegated_ev,
        bool_or(active) filter (where kind = 'root_feature') as sessions_on,
        bool_and(known) filter (where kind = 'root_feature') as sessions_known,
        min(evidence_event_ids) filter (where kind = 'root_feature') as sessions_ev,
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
/* one row per condition: ok true, false (broken) or null (unknown); known false = inferred */
conditions as (
    select
        session_id,
        1 as ord,
        case
            when caller_account_id = management_account then true
            when not in_organization then null
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
            else concat('whether ', caller_account_id, ' was IAM delegated administrator')
        end as unknown,
        delegated_ev as context
    from judged
    union all
    select
        session_id, 2,
        case when in_organization then sessions_on end,
        coalesce(sessions_known, false),
        'root sessions (EnableOrganizationsRootSessions) were not enabled',
        'whether root sessions were enabled',
        sessions_ev
    from judged
    union all
    select
        session_id, 3,
        case when in_organization then trusted_on end,
        coalesce(trusted_known, false),
        'trusted access for IAM (iam.amazonaws.com) was not enabled',
        'whether trusted access for IAM was enabled',
        trusted_ev
    from judged
    union all
    select
        session_id, 4,
        case when management_account is not null
             then target_account_id is distinct from management_account end,
        coalesce(management_known, false),
        'the target is the management account itself',
        'whether the target is the management account',
        cast(null as varchar)
    from judged
    union all
    select
        session_id, 5,
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
        coalesce(bool_or(ok = false and not known), false) as broken_inferred,
        coalesce(bool_or(ok is null), false) as unknown,
        coalesce(bool_or(ord = 4 and ok = false), false) as targets_management,
        string_agg(case when ok = false
                        then broken || case when known then '' else ' (inferred, not seen)' end
                   end, '; ' order by ord) as reasons,
        string_agg(case when ok is null then unknown end, '; ' order by ord) as unknowns,
        string_agg(case when ok = false then context end, ',' order by ord) as context
    from conditions
    group by session_id
),
raw as (
    select
        case
            when c.denied then 'denied_call'
            when v.broken_seen then 'unauthorized_call'
            else 'unverifiable_call'
        end as rule,
        case
            when c.denied and v.targets_management then 'high'
            when c.denied then 'medium'
            when v.broken_seen then 'high'
            else 'info'
        end as severity,
        c.caller_account_id as account_id,
        c.caller_arn as principal,
        c.session_id,
        c.issued_at as event_time,
        case
            when c.denied
                then concat('AssumeRoot by ', c.caller_account_id, ' on ',
                            coalesce(c.target_account_id, c.target_principal), ' denied: ',
                            coalesce(v.reasons, case when v.unknowns is not null
                                                     then 'organization state unknown'
                                                     else 'no reason in the organization''s '
                                                          || 'state' end))
            when v.broken_seen
                then concat('AssumeRoot by ', c.caller_account_id, ' on ', c.target_account_id,
                            ' granted although ', v.reasons)
            else concat('AssumeRoot by ', c.caller_account_id, ' on ', c.target_account_id,
                        ': authorization cannot be verified')
        end as title,
        trim(concat(c.caller_arn, ' called sts:AssumeRoot from ', c.source_ip, ' in ',
               c.call_region, ' at ', strftime(c.issued_at, '%Y-%m-%d %H:%M:%SZ'), ' for ',
               c.task_policy, ' on ', c.target_principal, ': ',
               case when c.outcome = 'failed' then concat('refused (', c.error_code, ')')
                    else 'granted' end, '. ',
               case
                   when c.denied and v.reasons is not null
                       then concat('At that moment ', v.reasons, '. ')
                   when c.denied and v.unknowns is not null
                       then concat('The logs cannot tell why: ', v.unknowns, ' is unknown. ')
                   when c.denied
                       then 'The organization''s state in the logs allowed it, so the caller''s '
                            || 'own IAM policy (sts:AssumeRoot, sts:TaskPolicyArn) or an SCP '
                            || 'refused it. '
                   when v.broken_seen
                       then concat('At that moment ', v.reasons, ', yet AWS granted it: the '
                                   || 'organization''s state in the logs is incomplete or the '
                                   || 'record is not genuine. ')
                   else concat('Cannot be verified: ',
                               concat_ws('; ', v.unknowns,
                                         case when v.broken_inferred then v.reasons end),
                               '. Ingest the logs that show the organization''s state (its '
                               || 'management account''s trail) to decide. ')
               end,
               case
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
        v.context as context_event_ids
    from calls c
    join verdicts v
        on v.session_id = c.session_id
    where c.denied
       or (c.outcome = 'issued' and (v.broken_seen or v.broken_inferred or v.unknown))
)
select *
from raw
order by event_time, rule, evidence_event_ids

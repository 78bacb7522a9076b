-- title: Findings: root sessions that did, or tried, what their task policy does not allow
-- description: The task-scope check. Every event of a session is
-- compared with the actions its task policy allowed at the event's time (root_session_events:
-- the five root task policies are Deny+NotAction documents, so their action lists are all a
-- session may do; an event with no known action counts as outside them, never as allowed).
-- Rule out_of_scope_action: a call outside the policy succeeded (high: AWS should have denied
-- it), or a call the policy lists only on the root user, which its resource never is
-- (iam:DeleteVirtualMFADevice in IAMDeleteRootUserCredentials v1), succeeded; refused, such a
-- call is what the policy makes AWS do and no finding. Rule out_of_scope_attempt: calls
-- outside the policy were tried and failed (medium). A call logged in an account other than
-- the one AssumeRoot named counts as outside it. Rule denied_in_scope: calls the policy
-- allows were denied (low: e.g. aimed at a resource other than the root user). Rule
-- unknown_task_policy, AssumeRoot named a task policy that is none of the five (medium if it
-- was granted, low if refused); its session's calls cannot be judged. GetCallerIdentity
-- (needs no permission) and ConsoleLogin (session bookkeeping) are never findings, the
-- session timeline shows them. Evidence: the AssumeRoot call, then the events.
-- inputs: assume_root_sessions, root_session_events, task_policy_actions
-- outputs: rule, severity, account_id, principal, session_id, event_time, title, explanation,
-- evidence_event_ids, context_event_ids
-- tags: findings, assume_root, task_scope

with
sessions as (
    select *
    from assume_root_sessions
    where session_kind = 'assume_root'
),
session_events as (
    select
        *,
        case
            when scope in ('out of scope', 'out of scope: not the root user', 'unknown action',
                           'out of scope: not the target account', 'denied in practice')
                 and outcome = 'succeeded' then 'out_of_scope_action'
            when scope in ('out of scope', 'out of scope: not the root user', 'unknown action',
                           'out of scope: not the target account')
                then 'out_of_scope_attempt'
            when scope = 'in scope' and denied then 'denied_in_scope'
            /* 'denied in practice' and refused: what the policy makes AWS do, no finding */
        end as rule
    from root_session_events
    where session_kind = 'assume_root'
),
/* what the policy allowed when the session was issued, to say so in the explanation */
allowed as (
    select
        s.session_id,
        string_agg(p.action || case when p.denied_in_practice
                                    then ' (listed, but only on the root user: denied in '
                                         || 'practice)' else '' end,
                   ', ' order by p.action) as actions
    from sessions s
    join task_policy_actions p
        on p.policy_arn = s.task_policy_arn
       and (p.allowed_from is null or s.issued_at >= cast(p.allowed_from as timestamptz))
       and (p.allowed_until is null or s.issued_at < cast(p.allowed_until as timestamptz))
    group by s.session_id
),
breaches as (
    select
        session_id,
        rule,
        min(event_time) as first_at,
        count(*) as events,
        bool_or(scope = 'denied in practice') as in_practice,
        bool_or(scope = 'out of scope: not the target account') as elsewhere,
        string_agg(distinct coalesce(action, event_source || ' ' || event_name), ', '
                   order by coalesce(action, event_source || ' ' || event_name)) as actions,
        string_agg(concat(event_name, ' at ', strftime(event_time, '%Y-%m-%dT%H:%M:%SZ'), ' in ',
                          aws_region, ' (', scope,
                          case when iam_user_name is not null
                               then concat(', user ', iam_user_name) end,
                          ', ', coalesce(error_code, 'succeeded'), ')'),
                   '; ' order by event_time, event_id) as detail,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(event_id, ',' order by event_time, event_id) as event_ids
    from session_events
    where rule is not null
    group by session_id, rule
),
all_events as (
    select session_id, string_agg(event_id, ',' order by event_time, event_id) as event_ids,
           count(*) as events
    from session_events
    group by session_id
),
raw as (
    select
        b.rule,
        case b.rule when 'out_of_scope_action' then 'high'
                    when 'out_of_scope_attempt' then 'medium'
                    else 'low' end as severity,
        s.target_account_id as account_id,
        s.caller_arn as principal,
        s.session_id,
        b.first_at as event_time,
        case b.rule
            when 'out_of_scope_action'
                then concat(s.task_policy, ' session on ', s.target_account_id, ' performed ',
                            b.actions, ', outside its task policy')
            when 'out_of_scope_attempt'
                then concat(s.task_policy, ' session on ', s.target_account_id, ' tried ',
                            b.actions, ', outside its task policy')
            else concat(s.task_policy, ' session on ', s.target_account_id, ' was denied ',
                        b.actions)
        end as title,
        concat('Root session ', s.access_key_id, ', opened by ', s.caller_arn, ' from ',
               s.source_ip, ' at ', strftime(s.issued_at, '%Y-%m-%dT%H:%M:%SZ'), ' with ',
               s.task_policy, ', which allows only ', coalesce(a.actions, 'nothing'), ': ',
               b.detail, '. ',
               case b.rule
                   when 'out_of_scope_action'
                       then case when b.in_practice
                                 then 'The policy lists it only on the root user '
                                      || '(arn:aws:iam::*:root), which the resource of this '
                                      || 'action never is (iam:DeleteVirtualMFADevice acts on '
                                      || 'an MFA device). '
                                 else '' end
                            || case when b.elsewhere
                                    then 'The key acts only as the root user of the account '
                                         || 'AssumeRoot named, yet a call with it is logged in '
                                         || 'another account: the record is not what AWS '
                                         || 'documents. '
                                    else '' end
                            || 'The task policy should have denied this: find out what it '
                            || 'changed and undo it if unintended, check the record against '
                            || 'another copy of the logs, and ask the caller what the session '
                            || 'was for.'
                   when 'out_of_scope_attempt'
                       then 'AWS refused it, but the session was used beyond its task: ask the '
                            || 'caller why, and whether the privileged task was a pretext.'
                   else 'The action is in the policy, so the denial points to its resource '
                        || 'limits (root user only, own queues) or another policy: check what '
                        || 'the call was aimed at.'
               end) as explanation,
        concat_ws(',', s.session_id, b.event_ids) as evidence_event_ids
    from breaches b
    join sessions s
        on s.session_id = b.session_id
    left join allowed a
        on a.session_id = s.session_id
    union all
    select
        'unknown_task_policy',
        case when s.outcome = 'issued' then 'medium' else 'low' end,
        s.target_account_id,
        s.caller_arn,
        s.session_id,
        s.issued_at,
        concat('AssumeRoot on ', s.target_account_id, ' with an unknown task policy: ',
               coalesce(s.task_policy_arn, '(none given)')),
        concat(s.caller_arn, ' called sts:AssumeRoot from ', s.source_ip, ' at ',
               strftime(s.issued_at, '%Y-%m-%dT%H:%M:%SZ'), ' naming task policy ',
               coalesce(s.task_policy_arn, '(none)'), ', which is none of the five AWS '
               || 'root task policies trailscope knows (trailscope/task_policies.json)',
               case when s.outcome = 'issued'
                    then concat('; the call was granted and the session made ',
                                coalesce(e.events, 0), ' call(s) that cannot be judged '
                                || 'against a task. Find out what that policy allows (a '
                                || 'new AWS task policy, or a forged record?) and review '
                                || 'the calls.')
                    else concat('; AWS refused the call (', s.error_code, '). Ask the caller '
                                || 'what they were trying to do.') end),
        concat_ws(',', s.session_id, e.event_ids)
    from sessions s
    left join all_events e
        on e.session_id = s.session_id
    where s.task_policy_arn is null
       or s.task_policy_arn not in (select policy_arn from task_policy_actions)
)
select
    *,
    cast(null as varchar) as context_event_ids
from raw
order by event_time, rule, evidence_event_ids

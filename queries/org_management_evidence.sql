-- title: What in the logs reveals the organization's management account
-- description: One row per event that names an account as the management account: a call
-- only the management account may make that succeeded (not DeregisterDelegatedAdministrator,
-- which for IAM the delegated administrator may call, nor CloseAccount, which delegated
-- administrators may call too: IAM User Guide), the account in a handshake ARN
-- (arn:aws:organizations::<management>:handshake/...), and DescribeOrganization responses
-- where they are logged (read-only responses usually are not). source says which; one event
-- can be more than one source.
-- inputs: org_events
-- outputs: account_id, source, event_time, event_id
-- tags: organization, identity, management account

with
/* org_events, read once: DuckDB computes a view each time a query names it,
   a CTE named more than once only once */
org as (
    select *
    from org_events
),
evidence as (
    select actor_account as account_id, 'management-only call succeeded' as source,
           event_time, event_id
    from org
    where succeeded and event_name in (
        'EnableAWSServiceAccess', 'DisableAWSServiceAccess', 'RegisterDelegatedAdministrator',
        'CreateAccount', 'CreateAccountResult', 'InviteAccountToOrganization',
        'RemoveAccountFromOrganization', 'EnableAllFeatures', 'CreateOrganization')
    union all
    select r_management_account, 'DescribeOrganization response', event_time, event_id
    from org
    where r_management_account is not null
    union all
    select split_part(r_handshake_arn, ':', 5), 'handshake ARN', event_time, event_id
    from org
    where r_handshake_arn like 'arn:%:organizations::%:handshake/%'
)
select *
from evidence
where account_id is not null and account_id <> ''
order by account_id, event_time, event_id, source

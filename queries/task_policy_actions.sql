-- title: The actions each sts:AssumeRoot task policy allows, with when
-- description: Generated from trailscope/task_policies.json (checked 2026-12-01):
-- regenerate with python -m trailscope.sessions, never edit by hand. One row per task
-- policy and action its Deny+NotAction document leaves allowed: these are the only actions
-- a session of that policy may perform. allowed_from and allowed_until (dates, UTC; empty:
-- no bound) hold the versions: an action removed from a policy is allowed only for events
-- before allowed_until (the day of the change counts as after it: its hour is not
-- published); all five policies are still v1, so no row has a bound. feature is the
-- centralized root access feature AWS ties the task to (RootCredentialsManagement or
-- RootSessions; empty: not stated). denied_in_practice: the policy lists the action, but
-- only on a resource the action never has (iam:DeleteVirtualMFADevice acts on an MFA
-- device, never on arn:aws:iam::*:root), so AWS denies it whatever the request.
-- inputs: task_policies.json
-- outputs: policy_arn, policy_name, action, allowed_from, allowed_until, feature,
-- denied_in_practice, note
-- tags: assume_root, task_policy, generated

select *
from (values
    (cast('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials' as varchar), cast('IAMAuditRootUserCredentials' as varchar), cast('iam:GetAccessKeyLastUsed' as varchar), cast(null as date), cast(null as date), cast(null as varchar), cast(false as boolean), cast('v1 (CreateDate 2024-11-06, the default and only version)' as varchar)),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:GetAccountSummary', null, null, null, false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:GetLoginProfile', null, null, null, false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:GetUser', null, null, null, false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:ListAccessKeys', null, null, null, false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:ListMFADevices', null, null, null, false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:ListSigningCertificates', null, null, null, false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword', 'IAMCreateRootUserPassword', 'iam:CreateLoginProfile', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword', 'IAMCreateRootUserPassword', 'iam:GetLoginProfile', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeactivateMFADevice', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteAccessKey', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteLoginProfile', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteSigningCertificate', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteVirtualMFADevice', null, null, 'RootCredentialsManagement', true, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:GetAccessKeyLastUsed', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:GetLoginProfile', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:GetUser', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:ListAccessKeys', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:ListMFADevices', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:ListSigningCertificates', null, null, 'RootCredentialsManagement', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:DeleteBucketPolicy', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:GetBucketPolicy', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:ListAllMyBuckets', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:PutBucketPolicy', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:GetQueueAttributes', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:GetQueueUrl', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:ListQueues', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:SetQueueAttributes', null, null, 'RootSessions', false, 'v1 (CreateDate 2024-11-06, the default and only version)')
) as t(policy_arn, policy_name, action, allowed_from, allowed_until, feature, denied_in_practice, note)
order by policy_arn, action, allowed_from nulls first

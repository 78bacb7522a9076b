-- title: The actions each sts:AssumeRoot task policy allows, with when
-- description: Generated from trailscope/task_policies.json (checked 2026-11-24):
-- regenerate with python -m trailscope.sessions, never edit by hand. One row per task
-- policy and action its Deny+NotAction document leaves allowed: these are the only actions
-- a session of that policy may perform. allowed_from and allowed_until (dates, UTC; empty:
-- no bound) hold the versions: an action removed from a policy is allowed only for events
-- before allowed_until (the day of the change counts as after it: its hour is not
-- published).
-- inputs: task_policies.json
-- outputs: policy_arn, policy_name, action, allowed_from, allowed_until, note
-- tags: assume_root, task_policy, generated

select *
from (values
    (cast('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials' as varchar), cast('IAMAuditRootUserCredentials' as varchar), cast('iam:GetAccessKeyLastUsed' as varchar), cast(null as date), cast(null as date), cast('v1 (created 2024-11-06, published 2024-11-14)' as varchar)),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:GetAccountSummary', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:GetLoginProfile', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:GetUser', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:ListAccessKeys', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:ListMFADevices', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials', 'IAMAuditRootUserCredentials', 'iam:ListSigningCertificates', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword', 'IAMCreateRootUserPassword', 'iam:CreateLoginProfile', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMCreateRootUserPassword', 'IAMCreateRootUserPassword', 'iam:GetLoginProfile', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeactivateMFADevice', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteAccessKey', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteLoginProfile', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteSigningCertificate', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:DeleteVirtualMFADevice', '2024-11-14', '2025-01-07', 'Events before 2025-01-07 may legitimately show DeleteVirtualMFADevice under this policy; judge by eventTime. Exact time of day of the change is not published.'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:GetAccessKeyLastUsed', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:GetLoginProfile', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:GetUser', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:ListAccessKeys', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:ListMFADevices', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/IAMDeleteRootUserCredentials', 'IAMDeleteRootUserCredentials', 'iam:ListSigningCertificates', null, null, 'v2 or later (current since 2025-01-07); v1 2024-11-14..2025-01-07'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:DeleteBucketPolicy', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:GetBucketPolicy', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:ListAllMyBuckets', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/S3UnlockBucketPolicy', 'S3UnlockBucketPolicy', 's3:PutBucketPolicy', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:GetQueueAttributes', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:GetQueueUrl', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:ListQueues', null, null, 'v1 (created 2024-11-06, published 2024-11-14)'),
    ('arn:aws:iam::aws:policy/root-task/SQSUnlockQueuePolicy', 'SQSUnlockQueuePolicy', 'sqs:SetQueueAttributes', null, null, 'v1 (created 2024-11-06, published 2024-11-14)')
) as t(policy_arn, policy_name, action, allowed_from, allowed_until, note)
order by policy_arn, action, allowed_from nulls first

-- title: Where every access key came from: its chain up to a long-term identity or provider
-- description: One row per access key (credential_keys), with its chain (credential_chains)
-- summed up. chain lists the keys from this one up (key < parent < ...), chain_arns the
-- identities they acted as, accounts every account on the chain; cross_account is true when
-- there is more than one. depth counts the issuing calls from the origin down to this key
-- (0 for a long-term key, 3 for the third role hop from a user's access key). source_identity
-- is the nearest one set on the chain: it is carried through role chaining.
-- origin_kind is what the chain starts from: long_term_key (an IAM user's or the root user's
-- access key: origin is its ARN), console_login (a password sign-in: origin is the user or
-- root ARN, origin_event_id the ConsoleLogin), saml_provider, web_identity_provider (origin is
-- the provider), aws_service (a service such as EC2 delivering an instance role: origin is the
-- service), or, where the chain leaves the logs, not_in_logs (the issuing call of the top key
-- is not in the logs: origin is the identity that key acted as), caller_key_not_logged (the
-- issuing call is there but does not name the key it was signed with: a role account's copy
-- of a cross-account call), cycle or depth_limit (the walk was cut; see credential_chains).
-- origin_in_logs is false for the last four: the chain goes on outside the logs. With a pivot,
-- the keys it reaches (see credential_keys); without, every key in the database.
-- inputs: credential_chains
-- outputs: access_key_id, key_kind, identity_type, identity_arn, account_id, link,
-- mint_event_id, mint_event_name, minted_at, parent_access_key_id, depth, chain, chain_arns,
-- accounts, cross_account, source_identity, origin_kind, origin, origin_access_key_id,
-- origin_event_id, origin_account_id, origin_in_logs
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null, follow = null
-- tags: credentials, lineage

with
summed as (
    select
        access_key_id,
        max(hop) as top_hop,
        /* string_agg with ORDER BY: DuckDB and PostgreSQL; Spark needs array_join */
        string_agg(ancestor_access_key_id, ' < ' order by hop) as chain,
        string_agg(coalesce(ancestor_arn, '?'), ' < ' order by hop) as chain_arns,
        string_agg(distinct ancestor_account_id, ', ' order by ancestor_account_id) as accounts,
        count(distinct ancestor_account_id) > 1 as cross_account,
        /* min_by ... filter: DuckDB and Spark */
        min_by(source_identity, hop) filter (where source_identity is not null)
            as source_identity
    from credential_chains
    group by access_key_id
),
ends as (
    select
        s.*,
        self.ancestor_key_kind as key_kind,
        self.ancestor_type as identity_type,
        self.ancestor_arn as identity_arn,
        self.ancestor_account_id as account_id,
        self.link,
        self.mint_event_id,
        self.mint_event_name,
        self.minted_at,
        self.parent_access_key_id,
        top.ancestor_access_key_id as top_key,
        top.ancestor_key_kind as top_kind,
        top.ancestor_arn as top_arn,
        top.ancestor_account_id as top_account,
        top.link as top_link,
        top.mint_event_id as top_event,
        top.mint_event_name as top_event_name,
        top.parent_access_key_id as top_parent,
        top.minted_by_type as top_minted_by_type,
        top.minted_by as top_minted_by
    from summed as s
    join credential_chains as self on self.access_key_id = s.access_key_id and self.hop = 0
    join credential_chains as top
        on top.access_key_id = s.access_key_id and top.hop = s.top_hop
),
classified as (
    select
        *,
        case
            when top_parent is not null and top_hop >= 16 then 'depth_limit'
            when top_parent is not null then 'cycle'
            when top_kind = 'long_term' then 'long_term_key'
            when top_link = 'console_login' then 'console_login'
            when top_link is null then 'not_in_logs'
            when top_event_name = 'AssumeRoleWithSAML' then 'saml_provider'
            when top_event_name = 'AssumeRoleWithWebIdentity' then 'web_identity_provider'
            when top_minted_by_type = 'AWSService' then 'aws_service'
            else 'caller_key_not_logged'
        end as origin_kind
    from ends
)
select
    access_key_id,
    key_kind,
    identity_type,
    identity_arn,
    account_id,
    link,
    mint_event_id,
    mint_event_name,
    minted_at,
    parent_access_key_id,
    top_hop + case when top_link is not null and top_parent is null then 1 else 0 end as depth,
    chain,
    chain_arns,
    accounts,
    cross_account,
    source_identity,
    origin_kind,
    case
        when origin_kind in ('long_term_key', 'not_in_logs', 'cycle', 'depth_limit')
            then top_arn
        else top_minted_by
    end as origin,
    top_key as origin_access_key_id,
    case when top_parent is null then top_event end as origin_event_id,
    top_account as origin_account_id,
    origin_kind in ('long_term_key', 'console_login', 'saml_provider', 'web_identity_provider',
                    'aws_service') as origin_in_logs
from classified
order by access_key_id

-- title: Each access key's chain of ancestors, one row per hop
-- description: For every key of credential_keys, the key itself (hop 0), the key its issuing
-- call was signed with (hop 1), that key's parent (hop 2), and so on, across accounts, until a
-- key with no parent in the logs: a long-term key, a key issued to a SAML or web identity
-- caller, an AWS service or a console sign-in, or one whose issuing call is not in the logs.
-- The walk stops before a key already on the chain (a cycle: forged or corrupted logs) and
-- after 16 hops. Each row carries the ancestor's identity and how it was issued, as in
-- credential_keys; credential_lineage sums each chain up, and the timeline's --follow reads
-- it downwards (every key with a given ancestor). With a pivot, the chains of the keys it
-- reaches (see credential_keys).
-- inputs: credential_keys
-- outputs: access_key_id, hop, ancestor_access_key_id, ancestor_key_kind, ancestor_type,
-- ancestor_arn, ancestor_account_id, source_identity, link, mint_event_id, mint_event_name,
-- minted_at, parent_access_key_id, minted_by_type, minted_by
-- params: access_key = null, principal = null, principal_like = null, session = null, ip = null,
-- account = null, follow = null
-- tags: credentials, lineage

with recursive
chain as (
    select
        access_key_id,
        0 as hop,
        access_key_id as ancestor,
        /* the keys walked so far, to refuse a cycle (instr: DuckDB and Spark) */
        '|' || access_key_id || '|' as path
    from credential_keys
    union all
    select
        c.access_key_id,
        c.hop + 1 as hop,
        k.parent_access_key_id as ancestor,
        c.path || k.parent_access_key_id || '|' as path
    from chain as c
    join credential_keys as k on k.access_key_id = c.ancestor
    where k.parent_access_key_id is not null
      and c.hop < 16
      and instr(c.path, '|' || k.parent_access_key_id || '|') = 0
)
select
    c.access_key_id,
    c.hop,
    c.ancestor as ancestor_access_key_id,
    k.key_kind as ancestor_key_kind,
    k.identity_type as ancestor_type,
    k.identity_arn as ancestor_arn,
    k.account_id as ancestor_account_id,
    k.source_identity,
    k.link,
    k.mint_event_id,
    k.mint_event_name,
    k.minted_at,
    k.parent_access_key_id,
    k.minted_by_type,
    k.minted_by
from chain as c
join credential_keys as k on k.access_key_id = c.ancestor
order by c.access_key_id, c.hop

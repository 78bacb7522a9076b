"""sts:AssumeRoot sessions: the library calls over the session query modules, and the two
modules generated from trailscope/task_policies.json (task_policy_actions, task_event_actions).

The task policies live in the JSON file the task-scope check was researched into; the query
modules read them as plain SQL `values` tables, generated here, so the modules run the same from
`Trail.query`, the `trailscope query` command, the duckdb CLI or another engine, with no table to
register first. A test keeps the generated files equal to the JSON:
`python -m trailscope.sessions` rewrites them.
"""

from __future__ import annotations

import json
import re
import sys
import textwrap
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trailscope.analysis import sql_literal
from trailscope.errors import TrailscopeError
from trailscope.period import ALL_TIME, Period

if TYPE_CHECKING:
    import polars as pl

    from trailscope.analysis import Analysis

_KEY_LIKE = re.compile(r"^--\s*\w+:")


class UnknownSession(TrailscopeError):
    """No AssumeRoot call or root session has that ID."""


def load_task_policies() -> dict[str, Any]:
    """trailscope/task_policies.json, as shipped in the package."""
    data: dict[str, Any] = json.loads(
        files("trailscope").joinpath("task_policies.json").read_text("utf-8")
    )
    return data


def _values(rows: list[tuple[Any, ...]], casts: tuple[str, ...]) -> str:
    """A `values` list whose first row carries the column types, so null columns stay typed."""
    lines = []
    for i, row in enumerate(rows):
        cells = [
            f"cast({sql_literal(v)} as {t})" if i == 0 else sql_literal(v)
            for v, t in zip(row, casts, strict=True)
        ]
        lines.append("    (" + ", ".join(cells) + ")")
    return ",\n".join(lines)


def _policy_rows(data: dict[str, Any]) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for arn, policy in sorted(data["policies"].items()):
        added = {
            h["action"]: h["date"] for h in policy.get("history", []) if h.get("change") == "added"
        }
        feature = policy.get("feature", {}).get("value")
        denied = policy.get("denied_in_practice", {})
        for action in sorted(policy["actions"]):
            rows.append(
                (
                    arn,
                    policy["name"],
                    action,
                    added.get(action),
                    None,
                    feature,
                    action in denied,
                    policy.get("policy_version"),
                )
            )
        for h in policy.get("history", []):
            if h.get("change") == "removed":
                rows.append(
                    (
                        arn,
                        policy["name"],
                        h["action"],
                        h.get("allowed_from"),
                        h.get("allowed_until", h["date"]),
                        feature,
                        h["action"] in denied,
                        h.get("note"),
                    )
                )
    return sorted(rows, key=lambda r: (r[0], r[2], r[3] or ""))


def _comment(key: str, text: str) -> list[str]:
    """`-- key: text` wrapped to 96 columns, no continuation line starting like another key
    (`-- word:`), which the header parser would take for one."""
    for width in range(96, 60, -1):
        lines = textwrap.wrap(text, width, initial_indent=f"-- {key}: ", subsequent_indent="-- ")
        if not any(_KEY_LIKE.match(line) for line in lines[1:]):
            return lines
    raise ValueError(f"cannot wrap {text!r} without a line that looks like a header key")


def _module(title: str, description: str, outputs: str, values: str, order: str) -> str:
    wrap = _comment("description", description)
    outs = _comment("outputs", outputs)
    return "\n".join(
        [
            f"-- title: {title}",
            *wrap,
            "-- inputs: task_policies.json",
            *outs,
            "-- tags: assume_root, task_policy, generated",
            "",
            "select *",
            "from (values",
            values,
            f") as t({outputs})",
            order,
            "",
        ]
    )


def policy_modules(data: dict[str, Any] | None = None) -> dict[str, str]:
    """The text of the two generated query modules, by name."""
    data = load_task_policies() if data is None else data
    source = f"trailscope/task_policies.json (checked {data.get('checked', '?')})"
    generated = (
        f"Generated from {source}: regenerate with python -m trailscope.sessions, "
        "never edit by hand."
    )
    policies = _module(
        "The actions each sts:AssumeRoot task policy allows, with when",
        f"{generated} One row per task policy and action its Deny+NotAction document leaves "
        "allowed: these are the only actions a session of that policy may perform. "
        "allowed_from and allowed_until (dates, UTC; empty: no bound) hold the versions: an "
        "action removed from a policy is allowed only for events before allowed_until (the day "
        "of the change counts as after it: its hour is not published); all five policies are "
        "still v1, so no row has a bound. feature is the centralized root access feature AWS "
        "ties the task to (RootCredentialsManagement or RootSessions; empty: not stated). "
        "denied_in_practice: the policy lists the action, but only on a resource the action "
        "never has (iam:DeleteVirtualMFADevice acts on an MFA device, never on "
        "arn:aws:iam::*:root), so AWS denies it whatever the request.",
        "policy_arn, policy_name, action, allowed_from, allowed_until, feature, "
        "denied_in_practice, note",
        _values(
            _policy_rows(data),
            ("varchar", "varchar", "varchar", "date", "date", "varchar", "boolean", "varchar"),
        ),
        "order by policy_arn, action, allowed_from nulls first",
    )
    events = sorted(
        (e["eventSource"], e["eventName"], e["action"], e.get("event_category"), e.get("readOnly"))
        for e in data["event_actions"]
    )
    actions = _module(
        "The IAM action that authorizes each CloudTrail event a root session may log",
        f"{generated} One row per (event_source, event_name): the IAM action that authorizes "
        "it, also where the names differ (ListBuckets is s3:ListAllMyBuckets). action is empty "
        "for events that are no action (ConsoleLogin). An event missing here is an unknown "
        "action, never an allowed one.",
        "event_source, event_name, action, event_category, read_only",
        _values(events, ("varchar", "varchar", "varchar", "varchar", "boolean")),
        "order by event_source, event_name",
    )
    return {"task_policy_actions": policies, "task_event_actions": actions}


def write_policy_modules(folder: Path) -> list[Path]:
    """Rewrite the generated modules in `folder` (the repository's queries/)."""
    written = []
    for name, text in policy_modules().items():
        path = folder / f"{name}.sql"
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


# library calls ------------------------------------------------------------------------------


def sessions(
    analysis: Analysis,
    *,
    period: Period = ALL_TIME,
    accounts: Sequence[str] = (),
    caller_like: str | None = None,
    session: str | None = None,
) -> pl.DataFrame:
    """One row per AssumeRoot call, failed ones included, and per orphan root session (root
    session activity whose AssumeRoot call is in no log). `period` bounds the issue time;
    `accounts` keeps sessions called from or targeting one of them, `caller_like` those whose
    caller's ARN holds that text (any case), `session` the one with that ID or access key."""
    where = period.conditions("issued_at")
    if accounts:
        where.append(
            "(list_contains($accounts, caller_account_id)"
            " or list_contains($accounts, target_account_id))"
        )
    if caller_like:
        where.append("contains(lower(caller_arn), lower($caller_like))")
    if session:
        where.append("(session_id = $session or access_key_id = $session)")
    return analysis.run(
        "assume_root_sessions",
        where=" and ".join(where),
        **period.params(),
        accounts=list(accounts),
        caller_like=caller_like,
        session=session,
    )


def timeline(analysis: Analysis, session_id: str) -> pl.DataFrame:
    """Every event of one session in order, the AssumeRoot call first, with its outcome and
    task scope. `session_id` is the AssumeRoot call's eventID or the session's access key."""
    df = analysis.run("assume_root_session_timeline", session_id=session_id)
    if df.is_empty():
        raise UnknownSession(
            f"no AssumeRoot session {session_id!r}: give the AssumeRoot "
            "eventID or the access key ID, as `trailscope query "
            "assume_root_sessions` lists them"
        )
    return df


def main(argv: list[str] | None = None) -> int:
    """Rewrite the generated modules in the checkout's queries/ folder."""
    folder = Path(str(files("trailscope.queries")))
    if not folder.is_dir():
        print(
            f"{folder} is not a folder (an installed wheel?): run from a checkout", file=sys.stderr
        )
        return 1
    for path in write_policy_modules(folder):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())

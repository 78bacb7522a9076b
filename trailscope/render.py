"""Rendering reports: one jinja2 Environment over the packaged templates (a user's
--template-dir first), autoescaping for HTML, and escaping for GitHub-flavoured Markdown."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jinja2
import markupsafe

FORMATS = {"html": "html", "md": "md", "markdown": "md", "json": "json"}
# Characters that mean something inside GitHub-flavoured Markdown text: escaped with a
# backslash so log text reads as text, never as a table break, a link, code or emphasis.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


# A spreadsheet runs a cell that starts with one of these as a formula; log text is
# attacker-controlled, so such text gets a leading apostrophe (OWASP's advice for CSV injection):
# in CSV (trailscope.output) and in Markdown, whose tables are pasted into spreadsheets too.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


def md(value: object) -> str:
    """Log text as inert Markdown for a table cell: no table breaks, links, code, HTML or
    spreadsheet formulas."""
    if value is None:
        return ""
    text = " ".join(str(value).split())  # newlines would end the table row
    if text.startswith(FORMULA_START):
        text = "'" + text
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # no raw HTML
    return _MD_SPECIAL.sub(r"\\\1", text)


def environment(template_dirs: Sequence[str | Path] = ()) -> jinja2.Environment:
    """The one Environment: the user's template folders first, then the packaged ones."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader([str(d) for d in template_dirs])]
    loaders.append(jinja2.PackageLoader("trailscope.reports", "."))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.jinja"), default_for_string=False, default=False
        ),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    env.finalize = _shown  # every value a template prints
    return env


def _shown(value: Any) -> Any:
    """Log text without control characters: an escape sequence in a user agent must not reach
    the terminal a report is read in (they are shown as \\x1b); tabs and newlines stay."""
    from trailscope.output import terminal_text

    if isinstance(value, markupsafe.Markup):  # HTML a template made: escaped already
        return markupsafe.Markup(terminal_text(str(value), lines=True))
    return terminal_text(value, lines=True) if isinstance(value, str) else value


def render(
    context: dict[str, Any],
    fmt: str,
    *,
    name: str = "report",
    template_dirs: Sequence[str | Path] = (),
) -> str:
    """The report `name` in `fmt` (html, md or json) from plain data."""
    kind = FORMATS.get(fmt)
    if kind is None:
        from trailscope.errors import TrailscopeError

        raise TrailscopeError(f"unknown report format {fmt!r}; choose html, md or json")
    if kind == "json":
        return json.dumps(context, indent=2, sort_keys=True, default=str) + "\n"
    return environment(template_dirs).get_template(f"{name}.{kind}.jinja").render(**context)

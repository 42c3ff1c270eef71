"""A usage table's rows, built in one pass: a dashboard of twelve namespaces shows some ninety rows,
and the template language spent about 340 calls on each, a third of the page (BENCHMARKS.md, Load)."""

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

from teams.usage import UsageRow

register = template.Library()

UNKNOWN = '<span class="muted" title="The quota controller has not reported usage yet">unknown</span>'


@register.simple_tag
def usage_rows(rows: list[UsageRow], default_quota: str) -> SafeString:
    """A `<tr>` per row: the resource (and its quota, unless the namespace's first), used, hard and a bar."""
    return mark_safe("".join(_row(row, default_quota) for row in rows))  # _row escapes every value


def _row(row: UsageRow, default_quota: str) -> str:
    quota = "" if row.quota == default_quota else f' <span class="muted">({escape(row.quota)})</span>'
    used = UNKNOWN if row.used is None else escape(row.used)
    bar = (
        ""
        if row.percent is None
        else f'<svg class="bar {row.level}" role="img" aria-label="{row.percent}% of hard">'
        f'<rect height="100%" width="{row.percent}%"/></svg>'
    )
    return (
        f'<tr><th scope="row" class="mono">{escape(row.resource)}{quota}</th>'
        f'<td class="num">{used}</td><td class="num">{escape(row.hard)}</td><td class="bar-cell">{bar}</td></tr>'
    )

"""A request's diff rows, built in one pass: each queue row shows its request's diff, and the template
language spent about 400 calls on each diff, a tenth of the queue page (BENCHMARKS.md, Load)."""

from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def diff_rows(diff: list[dict], kind: str) -> SafeString:
    """A `<tr>` per changed key; an object named once for its run of keys; no current value for a new namespace."""
    with_current = kind != "create_namespace"
    rows, previous = [], None
    for row in diff:
        change = str(row["change"])
        shown = "" if row["object"] == previous else escape(str(row["object"]))
        previous = row["object"]
        current = "—" if row.get("current") is None else escape(str(row["current"]))
        proposed = "<strong>removed</strong>" if change == "removed" else escape(str(row["proposed"]))
        rows.append(
            f'<tr class="changed{"" if change == "changed" else " " + escape(change)}">'
            f'<td class="mono">{shown}</td><td class="mono">{escape(str(row["key"]))}</td>'
            + (f'<td class="num">{current}</td>' if with_current else "")
            + f'<td class="num">{proposed} <span class="visually-hidden">({escape(change)})</span></td></tr>'
        )
    return mark_safe("".join(rows))  # every value is escaped above

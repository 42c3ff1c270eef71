"""A filter's <option>s in one pass: the queue's team filter lists every team, some 200, and the
template language spends about 60 calls on each option it renders (BENCHMARKS.md, Load)."""

from collections.abc import Iterable
from html import escape

from django import template
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.simple_tag
def options(choices: Iterable[tuple[str, str]], selected: str) -> SafeString:
    """An `<option>` per (value, label), the one whose value is `selected` marked so; escaped as `{{ }}` would."""
    return mark_safe("".join(_option(str(value), str(label), selected) for value, label in choices))


def _option(value: str, label: str, selected: str) -> str:
    marked = " selected" if value == selected else ""
    return f'<option value="{escape(value)}"{marked}>{escape(label)}</option>'

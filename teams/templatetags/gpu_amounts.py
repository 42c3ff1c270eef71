"""GPU-equivalents as every page shows them: whole GPUs plainly, slices to the hundredth."""

from decimal import Decimal

from django import template

from teams.catalog import format_gpus

register = template.Library()


@register.filter
def gpus(amount: Decimal | int | None) -> str:
    """`8.000000` as 8, seven 1g.10gb slices (0.999999) as 1, three as 0.43."""
    return format_gpus(amount)

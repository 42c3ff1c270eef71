"""Report values for people: hours to 2 decimals, utilization as a percentage. The CSV and JSON stay exact."""

from decimal import ROUND_HALF_EVEN, Decimal

HOURS = Decimal("0.01")


def hours(value: str | Decimal) -> str:
    """'7920.000000' -> '7920.00': the report's exact hours, rounded half to even for the page."""
    return str(Decimal(value).quantize(HOURS, rounding=ROUND_HALF_EVEN))


def percent(share: str | Decimal | None) -> str:
    """'0.3907' -> '39%'; no share (nothing reserved) -> an en dash."""
    if share is None:
        return "\N{EN DASH}"
    return f"{(Decimal(share) * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN)}%"

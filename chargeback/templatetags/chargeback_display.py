"""`hours` and `percent` for chargeback templates (chargeback.display)."""

from django import template

from chargeback import display

register = template.Library()
register.filter("hours", display.hours)
register.filter("percent", display.percent)

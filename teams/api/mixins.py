"""The one place the API decides what a user may see: every viewset's queryset passes here.

A viewset declares `queryset` as usual; `VisibleToUserMixin.get_queryset` narrows it
with the queryset's own `visible_to(user)`, the same method the pages use. A model
whose manager has no `visible_to` (cost centers, tiers) gets a QuerySet class here that
has one, so there is no endpoint a rule could be forgotten on: a queryset without
`visible_to` is refused at the first request.
"""

from django.core.exceptions import ImproperlyConfigured
from django.db import models

from teams.models import CostCenter, GpuTier, Team, is_approver, is_finance


def sees_everything(user) -> bool:
    """Approvers and finance read every team's data (finance changes nothing: the workflow refuses it)."""
    return is_approver(user) or is_finance(user)


class CostCenterQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CostCenterQuerySet":
        """Approvers and finance see every cost center; others the cost centers of their teams."""
        if sees_everything(user):
            return self
        return self.filter(pk__in=Team.objects.visible_to(user).values("cost_center"))


class GpuTierQuerySet(models.QuerySet):
    def visible_to(self, user) -> "GpuTierQuerySet":
        """Tiers are the catalogue every signed-in user chooses from."""
        return self if user.is_authenticated else self.none()


def cost_centers() -> CostCenterQuerySet:
    return CostCenterQuerySet(model=CostCenter)


def gpu_tiers() -> GpuTierQuerySet:
    return GpuTierQuerySet(model=GpuTier)


class VisibleToUserMixin:
    """Narrow the viewset's queryset to what `request.user` may see; 404 for everything else."""

    #: Large ids from a URL are refused by routing (404), never sent to the database.
    lookup_value_regex = r"[0-9]{1,18}"

    def get_queryset(self):
        queryset = super().get_queryset()
        visible_to = getattr(queryset, "visible_to", None)
        if visible_to is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.queryset has no visible_to(user); every API queryset must be scoped."
            )
        return visible_to(self.request.user)

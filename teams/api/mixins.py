"""The one place the API decides what a user may see: every viewset's queryset passes here.

A viewset declares `queryset` as usual; `VisibleToUserMixin.get_queryset` narrows it
with the queryset's own `visible_to(user)`, the manager method the pages use too. A
queryset without `visible_to` is refused at the first request, so there is no endpoint
a rule could be forgotten on.
"""

from django.core.exceptions import ImproperlyConfigured

#: Digits that always fit a primary key; a longer number is no id.
MAX_ID_DIGITS = 18


class VisibleToUserMixin:
    """Narrow the viewset's queryset to what `request.user` may see; 404 for everything else."""

    #: Large ids from a URL are refused by routing (404), never sent to the database.
    lookup_value_regex = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"

    def get_queryset(self):
        queryset = super().get_queryset()
        visible_to = getattr(queryset, "visible_to", None)
        if visible_to is None:
            raise ImproperlyConfigured(
                f"{type(self).__name__}.queryset has no visible_to(user); every API queryset must be scoped."
            )
        return visible_to(self.request.user)

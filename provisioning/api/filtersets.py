import django_filters

from provisioning.models import UsageSample
from teams.api.filtersets import UtcDateTimeFilter


class UsageSampleFilterSet(django_filters.FilterSet):
    namespace = django_filters.CharFilter(field_name="namespace__name", help_text="Namespace name.")
    quota_name = django_filters.CharFilter()
    resource = django_filters.CharFilter(help_text="Quota key, e.g. requests.nvidia.com/gpu.")
    start = UtcDateTimeFilter(field_name="time", lookup_expr="gte", help_text="From (inclusive).")
    end = UtcDateTimeFilter(field_name="time", lookup_expr="lt", help_text="Until (exclusive).")

    class Meta:
        model = UsageSample
        fields = ["namespace", "quota_name", "resource", "start", "end"]

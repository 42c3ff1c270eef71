"""Properties of the new input surface, GPU shares in a quota and a weight in the catalog.

Whatever amount of whichever GPU resource a request names, the policy either accepts it (a
whole amount of a resource the tier allows, or 0 of any) or refuses it naming that very
field, never raising; and what is accepted counts exactly units times weight.
"""

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teams.catalog import TierCatalog
from teams.models import GpuResource, GpuTier, Request
from teams.policy import check_request
from teams.quantities import QuantityError, parse_quantity

RESOURCES = [
    "nvidia.com/gpu",
    "nvidia.com/mig-1g.10gb",
    "nvidia.com/mig-2g.20gb",
    "nvidia.com/mig-3g.40gb",
    "nvidia.com/gpu.shared",
    "nvidia.com/mig-7g.80gb",  # in no tier's list
]
PREFIXES = ["requests.", "limits."]
amounts = st.one_of(
    st.integers(min_value=0, max_value=60).map(str),
    st.sampled_from(["0", "1500m", "1e1", "2Ki", "-1", "", "x", "0.5", "7.0", "100"]),
    st.text(max_size=5),
)
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))


@PROFILE
@given(
    tier=st.sampled_from(["critical", "high-priority"]),
    lines=st.dictionaries(
        st.tuples(st.sampled_from(PREFIXES), st.sampled_from(RESOURCES)).map("".join), amounts, min_size=1, max_size=4
    ),
)
def test_any_gpu_share_is_accepted_by_its_rules_or_refused_naming_its_field(world, tier, lines):
    catalog = TierCatalog.load()
    allowed = catalog.allowed_gpu_resources(catalog.by_slug[tier])
    team = world.platform if tier == "critical" else world.research

    report = check_request(
        Request.Kind.CREATE_NAMESPACE,
        team=team,
        namespace_name="shares",
        proposed={"tier": tier, "quotas": [{"name": "q", "hard": lines}]},
    )

    fields = {finding.field for finding in report.errors}
    assert fields <= {f"quotas[q].hard[{key}]" for key in lines} | {"quotas"}
    for key, text in lines.items():
        resource = key.split(".", 1)[1]
        try:
            value = parse_quantity(text).value
        except QuantityError:
            value = None
        acceptable = (
            value is not None
            and value == value.to_integral_value()
            and (value == 0 or resource in allowed)
            # Kubernetes counts only requests.<name> of an extended resource; the seed's GPU limit is warned of.
            and (key.startswith("requests.") or resource == "nvidia.com/gpu")
        )
        if not acceptable:
            assert f"quotas[q].hard[{key}]" in fields
    if report.is_valid:
        counted = sum(
            (
                Decimal(int(parse_quantity(text).value)) * catalog.weights.get(key.removeprefix("requests."), 1)
                for key, text in lines.items()
                if key.startswith("requests.")
            ),
            Decimal(0),
        )
        quotas = report.proposed["quotas"]
        assert catalog.gpu_allocation(quotas, catalog.by_slug[tier]).guaranteed == counted


@PROFILE
@given(
    weight=st.decimals(min_value=Decimal("0.000001"), max_value=Decimal("999.999999"), places=6),
    units=st.integers(min_value=0, max_value=10_000),
)
def test_a_weight_counts_exactly_what_it_says(world, weight, units):
    GpuResource.objects.filter(name="nvidia.com/gpu.shared").update(weight=weight)
    catalog = TierCatalog.load()
    tier = GpuTier.objects.get(slug="high-priority")

    allocation = catalog.gpu_allocation([{"name": "q", "hard": {"requests.nvidia.com/gpu.shared": str(units)}}], tier)

    assert allocation.guaranteed == weight * units
    assert allocation.whole_guaranteed == 0

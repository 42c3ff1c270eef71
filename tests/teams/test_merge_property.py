"""Whatever shape a merge patch has, resolving it gives a spec and findings, never an exception.

The policy's own rules on wrong shapes are proven by the property tests over every endpoint;
this one covers the merge that runs before them.
"""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teams.demo import SEED_LIMIT_RANGE, SEED_RESEARCH_QUOTA
from teams.quantities import parse_quantity
from teams.specs import grant, resolve_proposal, spec_changes

NAMES = ["ml-research-quota", "Container", "PersistentVolumeClaim", "pods", "cpu", "max", "hard", "name", "type"]
KEYS = ["name", "hard", "type", "max", "min", "default", "limits", "scopeSelector", "pods", "cpu", "nvidia.com/gpu"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=4), st.sampled_from(NAMES))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=3)), inner)
    ),
    max_leaves=16,
)
patches = st.dictionaries(
    st.sampled_from(["quotas", "limitRange", "removeQuotas", "removeLimits", "tier", "labels"]), values, max_size=4
)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(patch=patches, kind=st.sampled_from(["change_quota", "change_limit_range", "change_tier"]))
def test_any_patch_resolves_to_a_spec_and_findings(patch, kind):
    current = {"tier": "high-priority", "labels": {}, "quotas": [SEED_RESEARCH_QUOTA], "limitRange": SEED_LIMIT_RANGE}
    before = copy.deepcopy(current)

    resolution = resolve_proposal(kind, current, patch)

    assert set(resolution.spec) <= {"quotas", "limitRange", "tier", "labels"}
    assert all(isinstance(field, str) and message for field, message in resolution.errors)
    assert current == before  # the namespace's spec is never modified in place


GPU = "quotas[ml-research-quota].hard[requests.nvidia.com/gpu]"
amounts = st.one_of(
    st.text(max_size=8),
    st.integers(min_value=-50, max_value=50).map(str),
    st.sampled_from(["8", "12", "16", "500m", "1e1", "0", "16.0", "1Ki", "-0"]),
)


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(amount=amounts, field=st.sampled_from([GPU, "quotas[ml-research-quota].hard[pods]", "tier", "x"]))
def test_a_grant_is_refused_naming_its_field_or_lies_between_the_current_amount_and_the_ask(amount, field):
    asked = copy.deepcopy(SEED_RESEARCH_QUOTA)
    asked["hard"]["requests.nvidia.com/gpu"] = "16"
    current = {"quotas": [SEED_RESEARCH_QUOTA]}
    proposed = {"quotas": [asked]}
    changes = spec_changes(current, proposed)

    resolution = grant(proposed, changes, {field: amount})

    if resolution.errors:
        assert [name for name, _ in resolution.errors] == [field]
        assert resolution.spec == {}
    elif resolution.spec:
        granted = parse_quantity(resolution.spec["quotas"][0]["hard"]["requests.nvidia.com/gpu"])
        assert parse_quantity("8") <= granted < parse_quantity("16")
        assert field == GPU
    else:
        assert parse_quantity(amount) == parse_quantity("16")  # granting the ask is no grant

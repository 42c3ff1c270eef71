"""Whatever shape a merge patch has, resolving it gives a spec and findings, never an exception.

The policy's own rules on wrong shapes are proven by the property tests over every endpoint;
this one covers the merge that runs before them.
"""

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from teams.demo import SEED_LIMIT_RANGE, SEED_RESEARCH_QUOTA
from teams.specs import resolve_proposal

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

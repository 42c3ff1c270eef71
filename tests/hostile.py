"""Hypothesis strategies for hostile input, and the property every write path must keep with it.

Every JSON field of a request gets, besides values of its own shape, the review's findings:
wrong JSON types, huge numbers, deep nesting, long strings, control characters and unpaired
surrogates, and (when encoded) an object giving its first key twice. The property: no
response is a 500, and refused input stores no row.
"""

import copy
import json
import os
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from accounts.models import ApiToken
from notifications.models import Webhook
from teams.constants import QUOTA_KEYS
from teams.limits import MAX_BODY_BYTES, MAX_JUSTIFICATION_LENGTH, MAX_NOTE_LENGTH, UNSTORABLE
from teams.models import AuditEvent, Comment, Request
from teams.specs import SECTIONS

# Examples are derandomized, so a run is reproducible without a stored database; the
# thorough profile is for a hunt (HOSTILE_PROFILE=hostile-thorough), not for every run.
_COMMON = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("hostile", max_examples=30, **_COMMON)
settings.register_profile("hostile-thorough", max_examples=1000, **_COMMON)
HOSTILE = settings.get_profile(os.environ.get("HOSTILE_PROFILE", "hostile"))


@dataclass(frozen=True)
class Raw:
    """JSON text put into a body verbatim: nesting deeper than any encoder (or Python) recurses."""

    text: str


def nested(depth: int, opener: str) -> Raw:
    closer = {"[": "]", '{"a": ': "}"}[opener]
    return Raw(opener * depth + "1" + closer * depth)


#: Text a user could type, and text no database stores, or far beyond every bound.
control_characters = st.characters(categories=["Cc", "Cs", "Zl", "Zp", "Cf"])
long_text = st.builds(
    lambda piece, times: piece * times,
    st.sampled_from(["x", "\x00", "é", "9", "\u202e", "ml-"]),
    st.sampled_from([63, 64, 101, 254, MAX_NOTE_LENGTH + 1, MAX_JUSTIFICATION_LENGTH + 1, 70_000]),
)
texts = st.one_of(st.text(max_size=30), st.text(control_characters, min_size=1, max_size=5), long_text)
#: Text that HTML forms can carry (a browser sends no lone surrogate).
form_texts = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=30),
    st.text(st.characters(categories=["Cc", "Zl", "Zp", "Cf"]), min_size=1, max_size=5),
    long_text,
)
numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.integers(10**18, 10**60),
    st.sampled_from([10**55, -(10**55), 2**63, 2**63 - 1, 1e308, -0.0, 5e-324]),
    st.floats(allow_nan=False, allow_infinity=False),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)
deep = st.builds(nested, st.sampled_from([33, 200, 5000]), st.sampled_from(["[", '{"a": ']))
#: The review's 500s: more digits than a Decimal context of 60 holds, with and without a suffix.
huge_quantities = st.sampled_from(
    ["1234567890123456789012345678901234567890Gi", "9" * 70 + "Ei", "1" * 5000, "1" * 61 + ".5m", "1e30"]
)
quantity_texts = st.one_of(
    huge_quantities,
    st.sampled_from(
        ["4", "500m", "8Gi", "1e3", "-1", "1e31", "1e-31", "9Ei", "8Ei", "0.0000000001", "", " ", "NaN", "1.5", "0x10"]
    ),
    st.from_regex(r"\A-?[0-9]{1,60}(\.[0-9]{0,20})?(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|e-?[0-9]{1,3})?\Z"),
)


def hostile(valid: st.SearchStrategy) -> st.SearchStrategy:
    """A field's own kind of value, or anything the review tried in its place."""
    return st.one_of(valid, valid, scalars, json_values, deep)


TIERS = st.sampled_from(["critical", "high-priority", "best-effort", "platinum"])
QUOTA_KEY_NAMES = st.one_of(st.sampled_from([key for key, _ in QUOTA_KEYS]), st.text(max_size=12))
hard = st.one_of(
    st.dictionaries(QUOTA_KEY_NAMES, hostile(st.one_of(quantity_texts, numbers)), max_size=5),
    st.just({f"count/thing{index}.example.com": "1" for index in range(70)}),
)
scope_selectors = st.fixed_dictionaries(
    {
        "matchExpressions": hostile(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "scopeName": hostile(st.sampled_from(["PriorityClass", "Terminating", "BestEffort"])),
                        "operator": hostile(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"])),
                    },
                    optional={"values": hostile(st.lists(hostile(st.sampled_from(["ml-high", "ml-low", "high"]))))},
                ),
                max_size=3,
            )
        )
    }
)
quotas = st.fixed_dictionaries(
    {"name": hostile(st.sampled_from(["q", "ml-x-quota", "Q_Q"])), "hard": hostile(hard)},
    optional={"scopeSelector": hostile(scope_selectors)},
)
limit_items = st.fixed_dictionaries(
    {"type": hostile(st.sampled_from(["Container", "Pod", "PersistentVolumeClaim"]))},
    optional={
        field: hostile(
            st.dictionaries(
                st.sampled_from(["cpu", "memory", "nvidia.com/gpu", "storage"]), hostile(quantity_texts), max_size=4
            )
        )
        for field in ("min", "max", "default", "defaultRequest")
    },
)
limit_ranges = st.fixed_dictionaries(
    {"name": hostile(st.sampled_from(["lr", "default-limits"])), "limits": hostile(st.lists(limit_items, max_size=3))}
)
specs = st.fixed_dictionaries(
    {},
    optional={
        "tier": hostile(TIERS),
        "quotas": hostile(st.one_of(st.lists(quotas, max_size=3), st.lists(quotas, min_size=17, max_size=17))),
        "limitRange": hostile(limit_ranges),
        "labels": hostile(st.dictionaries(st.text(max_size=70), hostile(texts), max_size=4)),
        "force": hostile(st.booleans()),
    },
)
request_bodies = st.fixed_dictionaries(
    {},
    optional={
        "kind": hostile(st.sampled_from(Request.Kind.values)),
        "team": hostile(st.sampled_from(["research", "platform"])),
        "namespace": hostile(st.sampled_from(["ml-research", "ml-production"])),
        "namespace_name": hostile(st.sampled_from(["ml-new", "kube-x", "ml-research", "x" * 64])),
        "proposed_spec": hostile(specs),
        "justification": hostile(texts),
    },
)
#: A namespace spec the policy accepts, for mutations to break one or a few places of.
BASE_SPEC = {
    "tier": "high-priority",
    "labels": {"project": "vision"},
    "quotas": [
        {
            "name": "compute",
            "hard": {
                "requests.nvidia.com/gpu": "8",
                "limits.nvidia.com/gpu": "8",
                "requests.cpu": "64",
                "limits.cpu": "128",
                "requests.memory": "256Gi",
                "limits.memory": "512Gi",
                "pods": "50",
            },
        },
        {
            "name": "guaranteed",
            "hard": {"requests.nvidia.com/gpu": "4", "pods": "10"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["ml-high"]}]
            },
        },
    ],
    "limitRange": {
        "name": "ml-limit-range",
        "limits": [
            {
                "type": "Container",
                "default": {"cpu": "1", "memory": "1Gi", "nvidia.com/gpu": "0"},
                "defaultRequest": {"cpu": "500m", "memory": "512Mi", "nvidia.com/gpu": "0"},
                "max": {"nvidia.com/gpu": "8"},
            },
            {"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "500Gi"}},
        ],
    },
}


def _paths(value: object, path: tuple = ()) -> list[tuple]:
    found = [path] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


SPEC_PATHS = _paths(BASE_SPEC)
replacements = st.one_of(
    huge_quantities,
    st.sampled_from([10**55, -(10**55)]),
    quantity_texts,
    scalars,
    json_values,
    deep,
    quantity_texts,
    st.just([{"name": f"q{index}", "hard": {"pods": "1"}} for index in range(17)]),
    st.just({f"key{index}": "1" for index in range(70)}),
)


@st.composite
def mutated_specs(draw) -> dict:
    """BASE_SPEC with one to three places replaced by, or given an extra key of, a hostile value."""
    spec = copy.deepcopy(BASE_SPEC)
    for _ in range(draw(st.integers(1, 3))):
        # A copy: st.just gives the same object each time, and a later mutation could nest it in itself.
        path, value = draw(st.sampled_from(SPEC_PATHS)), copy.deepcopy(draw(replacements))
        parent = spec
        try:
            for step in path[:-1]:
                parent = parent[step]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation replaced what this path runs through
        if isinstance(parent, dict) and draw(st.booleans()):
            parent[draw(st.one_of(QUOTA_KEY_NAMES, st.text(max_size=12)))] = value
        elif isinstance(parent, dict) or (isinstance(parent, list) and path[-1] in range(len(parent))):
            parent[path[-1]] = value
    return spec


@st.composite
def spec_bodies(draw) -> dict:
    """A lead's valid request around a mutated spec: what the policy, not the serializer, has to refuse."""
    kind = draw(st.sampled_from(Request.Kind.values))
    spec = draw(mutated_specs())
    body = {"kind": kind, "team": "research", "justification": "Hostile, but well-formed around the spec."}
    if kind == Request.Kind.CREATE_NAMESPACE:
        body["namespace_name"] = draw(st.from_regex(r"\Aml-[a-z]{8}\Z"))
    else:
        body["namespace"] = "ml-research"
        spec = {key: value for key, value in spec.items() if key in SECTIONS.get(kind, ())}
    body["proposed_spec"] = spec
    return body


decision_bodies = st.fixed_dictionaries(
    {}, optional={"note": hostile(texts), "override_capacity": hostile(st.booleans())}
)


def encode(value: object, *, duplicate_in: int | None = None) -> bytes:
    """JSON text of `value`; the object numbered `duplicate_in` (in document order) gives its first key twice."""
    objects = iter(range(10**9))
    return _encode(value, duplicate_in, objects).encode("utf-8", "surrogatepass")


def _encode(value: object, duplicate_in: int | None, objects) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        number = next(objects)
        items = [f"{json.dumps(str(key))}: {_encode(item, duplicate_in, objects)}" for key, item in value.items()]
        if number == duplicate_in and items:
            items.append(items[0])
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_encode(item, duplicate_in, objects) for item in value) + "]"
    return json.dumps(value)


#: Which object of a body, if any, repeats a key: mostly none, so the rest of the body is reached.
duplicate_in = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 12))


def row_counts() -> tuple[int, ...]:
    """The rows a refused form must not add: requests, audit events, tokens, comments, webhooks."""
    counts = (Request, AuditEvent, ApiToken, Comment, Webhook)
    return tuple(model.objects.count() for model in counts)


def assert_no_500_and_nothing_stored_when_refused(response, before: tuple[int, ...]) -> None:
    """The property: never a 500; a refusal (4xx) stores no row; what is stored is within bounds."""
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        assert row_counts() == before
    for justification, note, spec in Request.objects.values_list("justification", "decision_note", "proposed_spec"):
        assert len(justification) <= MAX_JUSTIFICATION_LENGTH
        assert len(note) <= MAX_NOTE_LENGTH
        assert not UNSTORABLE.search(justification + note + json.dumps(spec, ensure_ascii=False))
        assert len(json.dumps(spec)) < MAX_BODY_BYTES

"""Property: decoding only the fields the sync reads gives what reading the whole JSON gives.

The gateway decodes the big LISTs of a sync into a few typed fields and skips the rest of each
object (provisioning.cluster.QUOTA_PAGE, NAMESPACE_PAGE); whatever else an API server puts in
an object, and whichever optional parts it leaves out, the readings must equal those taken
from `json.loads` of the same answer.
"""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provisioning.cluster import NAMESPACE_PAGE, QUOTA_PAGE, QuotaReading, namespace_state, quota_reading

#: Reproducible without a stored database, and patient with a machine shared by many test runs.
PROPERTY = settings(
    max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)
names = st.text(st.sampled_from('ab-.é/"\\'), max_size=6)
quantities = st.dictionaries(names, st.sampled_from(["0", "8", "100m", "16Gi", "1e3", "2.5"]), max_size=4)
#: What an API server adds that the sync never reads: managedFields, annotations, uids, anything.
extra = st.dictionaries(
    st.sampled_from(["managedFields", "annotations", "uid", "finalizers", "x-unknown"]),
    st.recursive(
        st.none() | st.booleans() | st.integers() | names, lambda inner: st.lists(inner, max_size=2), max_leaves=4
    ),
    max_size=3,
)


def optional(key: str, values) -> st.SearchStrategy[dict]:
    return st.one_of(st.just({}), values.map(lambda value: {key: value}))


@st.composite
def metadata(draw) -> dict:
    return {
        "name": draw(names),
        **draw(optional("namespace", names)),
        **draw(optional("resourceVersion", st.integers(1, 10**9).map(str))),
        **draw(optional("labels", st.dictionaries(names, names, max_size=3))),
        **draw(extra),
    }


@st.composite
def quota(draw) -> dict:
    status = {**draw(optional("hard", quantities)), **draw(optional("used", quantities))}
    return {
        "metadata": draw(metadata()),
        **draw(optional("spec", optional("hard", quantities))),
        **draw(optional("status", st.just(status))),
        **draw(extra),
    }


@st.composite
def namespace(draw) -> dict:
    return {
        "metadata": draw(metadata()),
        **draw(optional("status", optional("phase", st.sampled_from(["Active", "Terminating"])))),
        **draw(extra),
    }


def page(items: list[dict], continue_token: str | None) -> bytes:
    list_metadata = {"resourceVersion": "7"} | ({"continue": continue_token} if continue_token is not None else {})
    return json.dumps({"kind": "List", "apiVersion": "v1", "metadata": list_metadata, "items": items}).encode()


def read_whole_quota(item: dict) -> QuotaReading:
    status = item.get("status") or {}
    return QuotaReading(
        namespace=item["metadata"].get("namespace", ""),
        name=item["metadata"]["name"],
        hard=(item.get("spec") or {}).get("hard") or {},
        used=status.get("used") if "hard" in status else None,
        resource_version=item["metadata"].get("resourceVersion", ""),
    )


def read_whole_namespace(item: dict) -> dict:
    return {
        "labels": item["metadata"].get("labels") or {},
        "phase": (item.get("status") or {}).get("phase", ""),
        "resource_version": item["metadata"].get("resourceVersion", ""),
    }


@PROPERTY
@given(items=st.lists(quota(), max_size=5), continue_token=st.none() | names)
def test_quota_readings_equal_those_of_the_whole_json(items, continue_token):
    data = page(items, continue_token)

    decoded = QUOTA_PAGE.decode(data)

    whole = json.loads(data)
    assert [quota_reading(item) for item in decoded.items] == [read_whole_quota(item) for item in whole["items"]]
    assert decoded.metadata.continue_token == (whole["metadata"].get("continue") or "")


@PROPERTY
@given(items=st.lists(namespace(), max_size=5))
def test_namespace_states_equal_those_of_the_whole_json(items):
    data = page(items, None)

    decoded = NAMESPACE_PAGE.decode(data)

    assert [namespace_state(item) for item in decoded.items] == [
        read_whole_namespace(item) for item in json.loads(data)["items"]
    ]

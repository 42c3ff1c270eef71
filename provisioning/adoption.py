"""Turning a namespace someone else created into desired state the portal can own."""

from provisioning.cluster import ClusterGateway, PermanentError
from teams.models import Cluster

#: Fields of a LimitRange item that the portal keeps.
LIMIT_FIELDS = ("type", "min", "defaultRequest", "default", "max")


def read_existing_spec(cluster: Cluster, name: str) -> dict:
    """The namespace's quotas and LimitRange, in the portal's spec shape."""
    with ClusterGateway(cluster) as gateway:
        if gateway.namespace_labels(name) is None:
            raise PermanentError(f"Namespace {name} does not exist on cluster {cluster.name}.")
        state = gateway.read_namespace_state(name)
    quotas = []
    for item in state["quotas"]:
        quota = {"name": item["metadata"]["name"], "hard": item["spec"].get("hard") or {}}
        if item["spec"].get("scopeSelector"):
            quota["scopeSelector"] = item["spec"]["scopeSelector"]
        quotas.append(quota)
    limit_range = {}
    if state["limitRanges"]:
        first = state["limitRanges"][0]
        limits = [
            {key: value for key, value in limit.items() if key in LIMIT_FIELDS} for limit in first["spec"]["limits"]
        ]
        limit_range = {"name": first["metadata"]["name"], "limits": limits}
    return {"labels": {}, "quotas": quotas, "limitRange": limit_range}

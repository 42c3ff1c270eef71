"""Test connection: can the portal reach a cluster, what GPUs does it see, and may it do its work there.

For an approver adding a cluster (the cluster's page) and for automation (`manage.py check_cluster`,
which exits non-zero unless everything is there). It only reads: nothing is stored, health stays
the sync's to record.
"""

import logging
from dataclasses import dataclass, field

from provisioning.cluster import (
    REQUIRED_PERMISSIONS,
    ClusterError,
    ClusterGateway,
    GpuNode,
    Permission,
)
from provisioning.models import ClusterConnection

logger = logging.getLogger(__name__)

#: Seconds to connect and as many to answer `/version`: an approver is waiting on the page.
TIMEOUT = 5


@dataclass
class ConnectionCheck:
    cluster: str
    version: str = ""
    nodes: list[GpuNode] = field(default_factory=list)
    #: Permissions the identity lacks; None when they could not be asked.
    missing: list[Permission] | None = None
    problems: list[str] = field(default_factory=list)
    required: int = len(REQUIRED_PERMISSIONS)

    @property
    def is_complete(self) -> bool:
        """Reachable, every permission held, and at least one GPU node: ready to provision."""
        return not self.problems and self.missing == [] and bool(self.nodes)

    @property
    def gpus(self) -> int:
        return sum(node.gpus for node in self.nodes if node.is_ready)


def check_connection(connection: ClusterConnection) -> ConnectionCheck:
    """Ask the cluster, as the portal's identity there, for its version, GPU nodes and the permissions it holds."""
    check = ConnectionCheck(cluster=connection.cluster.name)
    try:
        gateway = ClusterGateway(connection)
    except ClusterError as error:
        check.problems.append(str(error))
        return _logged(check)
    with gateway:
        try:
            check.version = gateway.check_reachable(TIMEOUT)
        except ClusterError as error:
            check.problems.append(str(error))
            return _logged(check)
        try:
            check.missing = gateway.missing_permissions()
        except ClusterError as error:
            check.problems.append(f"Could not ask which permissions the portal has: {error}")
        try:
            check.nodes = gateway.list_gpu_nodes()
        except ClusterError as error:
            check.problems.append(f"Could not list the nodes: {error}")
        else:
            if not check.nodes:
                check.problems.append("No node offers nvidia.com/gpu: requests could not be placed on this cluster.")
    return _logged(check)


def _logged(check: ConnectionCheck) -> ConnectionCheck:
    logger.info(
        "cluster.connection_checked",
        extra={
            "cluster": check.cluster,
            "complete": check.is_complete,
            "missing": [str(permission) for permission in check.missing or []],
            "problems": len(check.problems),
        },
    )
    return check

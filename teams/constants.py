"""Names shared across the portal, defined once."""

APPROVERS_GROUP = "approvers"
FINANCE_GROUP = "finance"

#: Label on every object the portal owns; provisioning refuses to touch a namespace without it.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gpu-portal"

GPU_RESOURCE = "nvidia.com/gpu"
GUARANTEED_GPU_KEY = f"requests.{GPU_RESOURCE}"
GPU_LIMIT_KEY = f"limits.{GPU_RESOURCE}"

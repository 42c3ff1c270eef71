"""Names shared across the portal, defined once."""

APPROVERS_GROUP = "approvers"
FINANCE_GROUP = "finance"

#: Label on every object the portal owns; provisioning refuses to touch a namespace without it.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "gpu-portal"

GPU_RESOURCE = "nvidia.com/gpu"
GUARANTEED_GPU_KEY = f"requests.{GPU_RESOURCE}"
GPU_LIMIT_KEY = f"limits.{GPU_RESOURCE}"

#: The seed's quota keys in the order the portal shows them: GPUs first.
QUOTA_KEYS = [
    ("requests.nvidia.com/gpu", "Guaranteed GPUs"),
    ("limits.nvidia.com/gpu", "GPU limit"),
    ("requests.cpu", "CPU requests"),
    ("limits.cpu", "CPU limits"),
    ("requests.memory", "Memory requests"),
    ("limits.memory", "Memory limits"),
    ("requests.storage", "Storage requests"),
    ("persistentvolumeclaims", "PersistentVolumeClaims"),
    ("pods", "Pods"),
    ("services", "Services"),
    ("secrets", "Secrets"),
    ("configmaps", "ConfigMaps"),
]
#: Where each of those keys goes when quota keys are listed.
QUOTA_KEY_ORDER = {key: index for index, (key, _) in enumerate(QUOTA_KEYS)}

#: The user row that acts for the portal itself (teams.events.system_actor); it cannot sign in.
SYSTEM_USERNAME = "gpu-portal-system"

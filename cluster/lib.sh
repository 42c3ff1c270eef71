# Shared settings for the local control plane scripts; sourced, never run.
# Every value can be overridden from the environment so that a second,
# throwaway control plane (tests, experiments) can share the built binaries.

K8S_VERSION="v1.20.2"
K8S_GIT_COMMIT="faecb196815e248d3ecfb03c680a4507229c2a56"
DEBIAN_SOURCE_PACKAGE="kubernetes"
DEBIAN_SOURCE_VERSION="1.20.5+really1.20.2"

CLUSTER_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "${CLUSTER_SCRIPT_DIR}/.." && pwd)"

# Built binaries live outside the repo, keyed by version, so a fresh clone
# (or CI in another folder) on the same machine reuses them.
GPU_PORTAL_CACHE="${GPU_PORTAL_CACHE:-${HOME}/.cache/gpu-portal}"
K8S_CACHE_DIR="${GPU_PORTAL_CACHE}/kubernetes-${K8S_VERSION}"
K8S_BIN_DIR="${K8S_CACHE_DIR}/bin"
KUBECTL="${K8S_BIN_DIR}/kubectl"

# Runtime state: data, pki, logs, pid files, kubeconfig.
CLUSTER_STATE_DIR="${CLUSTER_STATE_DIR:-${REPO_ROOT}/.cluster}"
CLUSTER_HOST="127.0.0.1"
CLUSTER_APISERVER_PORT="${CLUSTER_APISERVER_PORT:-6443}"
CLUSTER_ETCD_PORT="${CLUSTER_ETCD_PORT:-12379}"
CLUSTER_ETCD_PEER_PORT="${CLUSTER_ETCD_PEER_PORT:-12380}"
CLUSTER_CONTROLLER_MANAGER_PORT="${CLUSTER_CONTROLLER_MANAGER_PORT:-10257}"
CLUSTER_SCHEDULER_PORT="${CLUSTER_SCHEDULER_PORT:-10259}"
CLUSTER_SERVICE_CIDR="${CLUSTER_SERVICE_CIDR:-10.96.0.0/12}"
CLUSTER_SERVICE_IP="${CLUSTER_SERVICE_IP:-10.96.0.1}"
CLUSTER_NAME="${CLUSTER_NAME:-gpu-portal}"

# The simulated GPU nodes started with the cluster; CLUSTER_SIMULATOR=0 skips them.
CLUSTER_SIMULATOR="${CLUSTER_SIMULATOR:-1}"
CLUSTER_SIM_NODES="${CLUSTER_SIM_NODES:-8}"
CLUSTER_SIM_GPUS_PER_NODE="${CLUSTER_SIM_GPUS_PER_NODE:-8}"
# Partitioned nodes beside them, one per space-separated entry: a MIG node (8 A100s cut into 1g, 2g and
# 3g slices) and a time-sliced node (8 GPUs shared four ways). Empty: whole-GPU nodes only.
CLUSTER_SIM_PARTITIONED="${CLUSTER_SIM_PARTITIONED-nvidia.com/mig-1g.10gb=30,nvidia.com/mig-2g.20gb=6,nvidia.com/mig-3g.40gb=4 nvidia.com/gpu.shared=32}"
CLUSTER_SIM_ARGS="${CLUSTER_SIM_ARGS:-}"
# More kube-controller-manager flags, e.g. a higher --kube-api-qps for a benchmark's thousands of namespaces.
CLUSTER_CONTROLLER_MANAGER_ARGS="${CLUSTER_CONTROLLER_MANAGER_ARGS:-}"
VENV_PYTHON="${VENV_PYTHON:-${REPO_ROOT}/.venv/bin/python}"

PKI_DIR="${CLUSTER_STATE_DIR}/pki"
LOG_DIR="${CLUSTER_STATE_DIR}/logs"
RUN_DIR="${CLUSTER_STATE_DIR}/run"
ETCD_DATA_DIR="${CLUSTER_STATE_DIR}/etcd"
KUBECONFIG_PATH="${CLUSTER_STATE_DIR}/kubeconfig"

# The processes the cluster consists of, in start order.
CLUSTER_COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler simulator)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { printf '[cluster] error: %s\n' "$*" >&2; exit 1; }

# Path of the binary a component runs as; used to check a pid before trusting it.
component_binary() {
    case "$1" in
        etcd) command -v etcd || echo /usr/bin/etcd ;;
        simulator) echo "python" ;;
        *) echo "${K8S_BIN_DIR}/$1" ;;
    esac
}

# Prints the pid of a running component, or nothing. A pid file is trusted only
# if that pid is alive and still runs the expected program (pids get reused).
component_pid() {
    local name="$1" pidfile="${RUN_DIR}/$1.pid" pid
    [[ -f "${pidfile}" ]] || return 0
    pid="$(cat "${pidfile}" 2>/dev/null || true)"
    [[ "${pid}" =~ ^[0-9]+$ ]] || return 0
    [[ -r "/proc/${pid}/cmdline" ]] || return 0
    local cmdline
    cmdline="$(tr '\0' ' ' < "/proc/${pid}/cmdline" 2>/dev/null || true)"
    case "${name}" in
        simulator)
            [[ "${cmdline}" == *"-m provisioning.simulator"* && "${cmdline}" == *"${KUBECONFIG_PATH}"* ]] || return 0 ;;
        *)
            local exe
            exe="$(readlink "/proc/${pid}/exe" 2>/dev/null || true)"
            exe="${exe% (deleted)}"
            [[ "${exe}" == "$(component_binary "${name}")" ]] || return 0
            # The same binary may run for another state dir: check ours.
            [[ "${cmdline}" == *"${CLUSTER_STATE_DIR}"* ]] || return 0 ;;
    esac
    echo "${pid}"
}

#!/usr/bin/env bash
# Stops the cluster and wipes its state (etcd data, certificates, tokens, logs,
# kubeconfig). The built binaries in ~/.cache/gpu-portal are kept; delete that
# folder to rebuild from scratch.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bash "${CLUSTER_SCRIPT_DIR}/stop.sh"
if [[ -d "${CLUSTER_STATE_DIR}" ]]; then
    rm -rf "${ETCD_DATA_DIR}" "${PKI_DIR}" "${LOG_DIR}" "${RUN_DIR}" "${KUBECONFIG_PATH}"
    rmdir "${CLUSTER_STATE_DIR}" 2>/dev/null || true
    log "wiped ${CLUSTER_STATE_DIR}"
fi

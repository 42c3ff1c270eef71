#!/usr/bin/env bash
# Stops exactly the processes up.sh started, found by their pid files; a pid is
# killed only if it still runs the expected program for this state dir.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

STOP_TIMEOUT="${CLUSTER_STOP_TIMEOUT:-20}"

stop_component() {
    local name="$1" pid deadline
    pid="$(component_pid "${name}")"
    if [[ -z "${pid}" ]]; then
        [[ -f "${RUN_DIR}/${name}.pid" ]] && log "${name} not running (stale pid file removed)"
        rm -f "${RUN_DIR}/${name}.pid"
        return 0
    fi
    kill -TERM "${pid}" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "${pid}" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "${pid}" 2>/dev/null; then
        log "${name} (pid ${pid}) ignored SIGTERM for ${STOP_TIMEOUT} s; sending SIGKILL"
        kill -KILL "${pid}" 2>/dev/null || true
    fi
    rm -f "${RUN_DIR}/${name}.pid"
    log "stopped ${name} (pid ${pid})"
}

# Reverse start order: the simulator and controllers before the API server, etcd last.
for ((i = ${#CLUSTER_COMPONENTS[@]} - 1; i >= 0; i--)); do
    stop_component "${CLUSTER_COMPONENTS[i]}"
done

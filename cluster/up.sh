#!/usr/bin/env bash
# Starts the local GPU cluster: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler (v1.20.2, built once by build.sh) on 127.0.0.1, plus the
# simulated GPU nodes. Idempotent: components already running are kept (same
# pids), so a second run takes seconds. State lives in .cluster/ (or
# $CLUSTER_STATE_DIR); see docs/local-cluster.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT="${CLUSTER_READY_TIMEOUT:-120}"
QUOTA_SYNC_PERIOD="${CLUSTER_QUOTA_SYNC_PERIOD:-10s}"

port_in_use() {
    (exec 3<>"/dev/tcp/${CLUSTER_HOST}/$1") 2>/dev/null
}

wait_for() {
    # wait_for DESCRIPTION TIMEOUT COMMAND...: polls COMMAND until it succeeds,
    # giving up early when a component we started has exited.
    local what="$1" timeout="$2"; shift 2
    local deadline=$((SECONDS + timeout)) name
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            die "timed out after ${timeout} s waiting for ${what} (logs: ${LOG_DIR})"
        fi
        for name in "${CLUSTER_COMPONENTS[@]}"; do
            if [[ -f "${RUN_DIR}/${name}.pid" && -z "$(component_pid "${name}")" ]]; then
                tail -n 15 "${LOG_DIR}/${name}.log" >&2 || true
                die "${name} exited while waiting for ${what}; see ${LOG_DIR}/${name}.log, then run cluster/up.sh again"
            fi
        done
        sleep 0.5
    done
}

make_pki() {
    # A private CA, the API server's serving certificate, the service-account
    # key pair and static bearer tokens; made once per state dir.
    mkdir -p "${PKI_DIR}"
    chmod 700 "${PKI_DIR}"
    cd "${PKI_DIR}"
    if [[ ! -s ca.crt ]]; then
        log "creating CA and certificates in ${PKI_DIR}"
        openssl req -x509 -new -nodes -newkey rsa:2048 -sha256 -days 3650 \
            -keyout ca.key -out ca.crt -subj "/CN=${CLUSTER_NAME}-ca" \
            -addext "basicConstraints=critical,CA:TRUE" \
            -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
            -addext "subjectKeyIdentifier=hash" 2>/dev/null
        rm -f apiserver.crt
    fi
    if [[ ! -s apiserver.crt ]]; then
        openssl req -new -nodes -newkey rsa:2048 -sha256 -keyout apiserver.key \
            -out apiserver.csr -subj "/CN=kube-apiserver" 2>/dev/null
        cat > apiserver.ext <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
subjectAltName=IP:127.0.0.1,IP:${CLUSTER_SERVICE_IP},DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EXT
        openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
            -days 3650 -sha256 -extfile apiserver.ext -out apiserver.crt 2>/dev/null
        rm -f apiserver.csr
    fi
    if [[ ! -s sa.key ]]; then
        openssl genrsa -out sa.key 2048 2>/dev/null
        openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    fi
    if [[ ! -s tokens.csv ]]; then
        # token,user,uid,"groups": the admin is in system:masters (cluster-admin);
        # the worker gets only the gpu-portal-worker ClusterRole (rbac.yaml).
        local t
        {
            t="$(openssl rand -hex 24)"; echo "${t},gpu-portal-admin,gpu-portal-admin,\"system:masters\""
            t="$(openssl rand -hex 24)"; echo "${t},gpu-portal-worker,gpu-portal-worker,\"gpu-portal:workers\""
            t="$(openssl rand -hex 24)"; echo "${t},system:kube-controller-manager,system:kube-controller-manager"
            t="$(openssl rand -hex 24)"; echo "${t},system:kube-scheduler,system:kube-scheduler"
        } > tokens.csv.tmp
        mv tokens.csv.tmp tokens.csv
    fi
    chmod 600 ./*.key tokens.csv
    cd - >/dev/null
}

token_of() {
    awk -F, -v user="$1" '$2 == user { print $1 }' "${PKI_DIR}/tokens.csv"
}

write_kubeconfig() {
    # write_kubeconfig PATH USER...: one context per user; the first is current.
    local path="$1"; shift
    local ca_data user
    ca_data="$(base64 -w0 < "${PKI_DIR}/ca.crt")"
    {
        echo "apiVersion: v1"
        echo "kind: Config"
        echo "preferences: {}"
        echo "clusters:"
        echo "- name: ${CLUSTER_NAME}"
        echo "  cluster:"
        echo "    server: https://${CLUSTER_HOST}:${CLUSTER_APISERVER_PORT}"
        echo "    certificate-authority-data: ${ca_data}"
        echo "users:"
        for user in "$@"; do
            echo "- name: ${user}"
            echo "  user:"
            echo "    token: $(token_of "${user}")"
        done
        echo "contexts:"
        for user in "$@"; do
            echo "- name: ${user}"
            echo "  context:"
            echo "    cluster: ${CLUSTER_NAME}"
            echo "    user: ${user}"
            echo "    namespace: default"
        done
        echo "current-context: $1"
    } > "${path}.tmp"
    chmod 600 "${path}.tmp"
    mv "${path}.tmp" "${path}"
}

start_component() {
    # start_component NAME COMMAND...: starts it detached unless already running.
    local name="$1"; shift
    local pid
    pid="$(component_pid "${name}")"
    if [[ -n "${pid}" ]]; then
        log "${name} already running (pid ${pid})"
        return 0
    fi
    # setsid: the cluster outlives the shell (and Ctrl-C of `make`) that started it.
    setsid "$@" >> "${LOG_DIR}/${name}.log" 2>&1 < /dev/null &
    echo $! > "${RUN_DIR}/${name}.pid"
    log "started ${name} (pid $!, log ${LOG_DIR}/${name}.log)"
}

check_port_free() {
    # A port answering while our component is not running belongs to someone else.
    local name="$1" port="$2"
    [[ -n "$(component_pid "${name}")" ]] && return 0
    if port_in_use "${port}"; then
        die "port ${port} (for ${name}) is taken by another process; set the matching CLUSTER_*_PORT"
    fi
}

start_etcd() {
    check_port_free etcd "${CLUSTER_ETCD_PORT}"
    check_port_free etcd "${CLUSTER_ETCD_PEER_PORT}"
    local client="http://${CLUSTER_HOST}:${CLUSTER_ETCD_PORT}" peer="http://${CLUSTER_HOST}:${CLUSTER_ETCD_PEER_PORT}"
    start_component etcd "$(component_binary etcd)" \
        --name "${CLUSTER_NAME}" \
        --data-dir "${ETCD_DATA_DIR}" \
        --listen-client-urls "${client}" --advertise-client-urls "${client}" \
        --listen-peer-urls "${peer}" --initial-advertise-peer-urls "${peer}" \
        --initial-cluster "${CLUSTER_NAME}=${peer}" \
        --snapshot-count 10000 --quota-backend-bytes $((4 * 1024 * 1024 * 1024)) \
        --logger zap --log-level warn
    wait_for "etcd" "${READY_TIMEOUT}" curl -fsS "${client}/health"
}

start_apiserver() {
    check_port_free kube-apiserver "${CLUSTER_APISERVER_PORT}"
    start_component kube-apiserver "${K8S_BIN_DIR}/kube-apiserver" \
        --advertise-address "${CLUSTER_HOST}" --bind-address "${CLUSTER_HOST}" \
        --secure-port "${CLUSTER_APISERVER_PORT}" --insecure-port 0 \
        --etcd-servers "http://${CLUSTER_HOST}:${CLUSTER_ETCD_PORT}" \
        --tls-cert-file "${PKI_DIR}/apiserver.crt" --tls-private-key-file "${PKI_DIR}/apiserver.key" \
        --client-ca-file "${PKI_DIR}/ca.crt" \
        --token-auth-file "${PKI_DIR}/tokens.csv" \
        --authorization-mode Node,RBAC \
        --enable-admission-plugins NamespaceLifecycle,LimitRanger,ServiceAccount,Priority,ResourceQuota \
        --service-cluster-ip-range "${CLUSTER_SERVICE_CIDR}" \
        --service-account-key-file "${PKI_DIR}/sa.pub" \
        --service-account-signing-key-file "${PKI_DIR}/sa.key" \
        --service-account-issuer "https://kubernetes.default.svc" \
        --api-audiences "https://kubernetes.default.svc" \
        --endpoint-reconciler-type none \
        --allow-privileged=true \
        --profiling=false \
        --v 1
    # /readyz is readable anonymously (system:public-info-viewer).
    wait_for "kube-apiserver /readyz" "${READY_TIMEOUT}" \
        curl -fsS --cacert "${PKI_DIR}/ca.crt" "https://${CLUSTER_HOST}:${CLUSTER_APISERVER_PORT}/readyz"
}

start_controller_manager() {
    check_port_free kube-controller-manager "${CLUSTER_CONTROLLER_MANAGER_PORT}"
    local kubeconfig="${PKI_DIR}/kube-controller-manager.kubeconfig"
    write_kubeconfig "${kubeconfig}" system:kube-controller-manager
    # Without it no quota is enforced (status stays empty) and no `default`
    # ServiceAccount exists. Cloud, node-lifecycle and networking controllers
    # are off: there is no cloud, the simulator keeps its nodes Ready itself.
    start_component kube-controller-manager "${K8S_BIN_DIR}/kube-controller-manager" \
        --kubeconfig "${kubeconfig}" \
        --authentication-kubeconfig "${kubeconfig}" --authorization-kubeconfig "${kubeconfig}" \
        --bind-address "${CLUSTER_HOST}" --secure-port "${CLUSTER_CONTROLLER_MANAGER_PORT}" --port 0 \
        --controllers '*,-nodelifecycle,-cloud-node-lifecycle,-nodeipam,-route,-service,-attachdetach' \
        --use-service-account-credentials=true \
        --service-account-private-key-file "${PKI_DIR}/sa.key" \
        --root-ca-file "${PKI_DIR}/ca.crt" \
        --cluster-signing-cert-file "${PKI_DIR}/ca.crt" --cluster-signing-key-file "${PKI_DIR}/ca.key" \
        --cluster-name "${CLUSTER_NAME}" \
        --resource-quota-sync-period "${QUOTA_SYNC_PERIOD}" \
        --leader-elect=false \
        --profiling=false \
        --v 1 ${CLUSTER_CONTROLLER_MANAGER_ARGS}
}

start_scheduler() {
    check_port_free kube-scheduler "${CLUSTER_SCHEDULER_PORT}"
    local kubeconfig="${PKI_DIR}/kube-scheduler.kubeconfig"
    write_kubeconfig "${kubeconfig}" system:kube-scheduler
    start_component kube-scheduler "${K8S_BIN_DIR}/kube-scheduler" \
        --kubeconfig "${kubeconfig}" \
        --authentication-kubeconfig "${kubeconfig}" --authorization-kubeconfig "${kubeconfig}" \
        --bind-address "${CLUSTER_HOST}" --secure-port "${CLUSTER_SCHEDULER_PORT}" --port 0 \
        --leader-elect=false \
        --profiling=false \
        --v 1
}

kubectl_admin() {
    "${KUBECTL}" --kubeconfig "${KUBECONFIG_PATH}" --context gpu-portal-admin "$@"
}

apply_rbac() {
    # The bootstrap ClusterRole `edit`, which the worker may bind, must exist first.
    wait_for "RBAC bootstrap roles" "${READY_TIMEOUT}" kubectl_admin get clusterrole edit
    kubectl_admin apply -f "${CLUSTER_SCRIPT_DIR}/rbac.yaml" >/dev/null
}

start_simulator() {
    if [[ "${CLUSTER_SIMULATOR}" == 0 ]]; then
        return 0
    fi
    if [[ -n "$(component_pid simulator)" ]]; then
        log "simulator already running (pid $(component_pid simulator))"
        return 0
    fi
    if [[ ! -x "${VENV_PYTHON}" ]]; then
        log "WARNING: ${VENV_PYTHON} is missing, so the simulated GPU nodes were NOT started."
        log "WARNING: run 'make venv' and then 'make cluster' again (the control plane itself is up)."
        return 0
    fi
    local partitioned=() spec
    for spec in ${CLUSTER_SIM_PARTITIONED}; do
        partitioned+=(--partitioned-node "${spec}")
    done
    # -m from the repo root: works without Django settings.
    (cd "${REPO_ROOT}" && start_component simulator "${VENV_PYTHON}" -u -m provisioning.simulator \
        --kubeconfig "${KUBECONFIG_PATH}" --context gpu-portal-admin \
        --nodes "${CLUSTER_SIM_NODES}" --gpus-per-node "${CLUSTER_SIM_GPUS_PER_NODE}" "${partitioned[@]}" \
        ${CLUSTER_SIM_ARGS})
    wait_for "${CLUSTER_SIM_NODES} simulated GPU nodes to be Ready" "${READY_TIMEOUT}" nodes_ready
}

default_service_account_ready() {
    # Pods are refused until the default ServiceAccount has its token secret.
    [[ -n "$(kubectl_admin -n default get serviceaccount default -o 'jsonpath={.secrets[0].name}')" ]]
}

nodes_ready() {
    local ready
    ready="$(kubectl_admin get nodes -l sim.gpu-portal/simulated=true \
        -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c '^True$')"
    ((ready >= CLUSTER_SIM_NODES))
}

main() {
    local started=${SECONDS}
    bash "${CLUSTER_SCRIPT_DIR}/build.sh"
    mkdir -p "${CLUSTER_STATE_DIR}" "${LOG_DIR}" "${RUN_DIR}" "${ETCD_DATA_DIR}"
    chmod 700 "${ETCD_DATA_DIR}"
    make_pki
    write_kubeconfig "${KUBECONFIG_PATH}" gpu-portal-admin gpu-portal-worker
    start_etcd
    start_apiserver
    apply_rbac
    start_controller_manager
    start_scheduler
    wait_for "the default ServiceAccount and its token" "${READY_TIMEOUT}" default_service_account_ready
    start_simulator
    log "cluster ready in $((SECONDS - started)) s"
    cat <<MSG

Local GPU cluster (Kubernetes ${K8S_VERSION}) is up on https://${CLUSTER_HOST}:${CLUSTER_APISERVER_PORT}
  export KUBECONFIG=${KUBECONFIG_PATH}
  kubectl: ${KUBECTL}   (matches the server; e.g. ${KUBECTL} get nodes)
  contexts: gpu-portal-admin (current), gpu-portal-worker (the portal worker's least-privilege identity)
  stop: make cluster-stop    wipe: make cluster-reset    logs: ${LOG_DIR}
MSG
}

main "$@"

#!/usr/bin/env bash
# Builds kube-apiserver, kube-controller-manager, kube-scheduler and kubectl
# v1.20.2 from Debian bookworm's `kubernetes` source package, once, into
# ~/.cache/gpu-portal/kubernetes-v1.20.2/bin. No prebuilt binary can be
# downloaded here, but Debian's source (with its vendor/ tree) and Go 1.19 can.
# A second run finds the binaries and returns at once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
GO_ROOT="/usr/lib/go-1.19"
GOPATH_DIR="${K8S_CACHE_DIR}/gopath"
SOURCE_DIR="${GOPATH_DIR}/src/k8s.io/kubernetes"
STAMP="${K8S_BIN_DIR}/.complete"

binaries_present() {
    [[ -f "${STAMP}" ]] || return 1
    local b
    for b in "${BINARIES[@]}"; do [[ -x "${K8S_BIN_DIR}/${b}" ]] || return 1; done
}

apt_updated=0
apt_install() {
    # Installs the Debian packages given whose files are missing.
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "${pkg}" 2>/dev/null | grep -q 'install ok installed' || missing+=("${pkg}")
    done
    ((${#missing[@]})) || return 0
    [[ "$(id -u)" == 0 ]] || die "need root (or sudo) to install: ${missing[*]}"
    if ((apt_updated == 0)); then
        log "apt-get update"
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    log "installing from Debian: ${missing[*]}"
    local apt_log="${GPU_PORTAL_CACHE}/apt-install.log"
    mkdir -p "${GPU_PORTAL_CACHE}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" > "${apt_log}" 2>&1 \
        || { tail -n 20 "${apt_log}" >&2; die "apt-get install ${missing[*]} failed"; }
}

ensure_runtime_packages() {
    # etcd and openssl are needed at run time even when the binaries are cached.
    apt_install etcd-server openssl ca-certificates curl
}

ensure_deb_src() {
    # apt-get source needs a deb-src line; the machine's sources are deb only.
    local list=/etc/apt/sources.list.d/gpu-portal-deb-src.sources
    if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
        log "adding a deb-src entry for bookworm (${list})"
        cat > "${list}" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
        apt_updated=0
    fi
}

fetch_source() {
    [[ -f "${SOURCE_DIR}/cmd/kube-apiserver/apiserver.go" ]] && return 0
    ensure_deb_src
    if ((apt_updated == 0)); then
        log "apt-get update"
        apt-get update -q >/dev/null
        apt_updated=1
    fi
    local work="${K8S_CACHE_DIR}/download"
    rm -rf "${work}" "${SOURCE_DIR}"
    mkdir -p "${work}" "$(dirname "${SOURCE_DIR}")"
    log "fetching Debian source package ${DEBIAN_SOURCE_PACKAGE} (${DEBIAN_SOURCE_VERSION})"
    (cd "${work}" && apt-get source -q --download-only "${DEBIAN_SOURCE_PACKAGE}" >/dev/null 2>&1) \
        || die "apt-get source ${DEBIAN_SOURCE_PACKAGE} failed"
    local dsc
    dsc="$(ls "${work}"/*.dsc | head -n1)"
    [[ "${dsc}" == *"${DEBIAN_SOURCE_VERSION}"* ]] || die "unexpected source version: ${dsc}"
    # dpkg-source applies Debian's patches (kubectl CVE-2021-25743 among them).
    # No keyring for the uploader's signature here; apt already checked the files'
    # hashes against the signed Sources index.
    (cd "${work}" && dpkg-source -q -x "${dsc}" "${SOURCE_DIR}" > "${work}.log" 2>&1) \
        || { tail -n 20 "${work}.log" >&2; die "dpkg-source -x failed"; }
    rm -f "${work}.log"
    rm -rf "${work}"
}

go_env() {
    export GOROOT="${GO_ROOT}" GOPATH="${GOPATH_DIR}" GO111MODULE=off CGO_ENABLED=0
    export GOCACHE="${GPU_PORTAL_CACHE}/go-build" GOFLAGS="" GOPROXY=off
    export PATH="${GO_ROOT}/bin:${PATH}"
}

generate_openapi() {
    # The tarball lacks pkg/generated/openapi/zz_generated.openapi.go, which
    # kube-apiserver needs; generate it as upstream's Makefile.generated_files does.
    local out="${SOURCE_DIR}/pkg/generated/openapi/zz_generated.openapi.go"
    [[ -s "${out}" ]] && return 0
    log "generating OpenAPI definitions (openapi-gen)"
    cd "${SOURCE_DIR}"
    mkdir -p _output/bin
    go build -p 2 -o _output/bin/openapi-gen ./vendor/k8s.io/kube-openapi/cmd/openapi-gen
    # Directories with go files, staging/ named as its vendor/ twin, vendor/ itself skipped.
    local dirs
    dirs="$(find -H . \( -path ./_\* -o -path ./.\* -o -path ./vendor -o -path ./debian \) -prune -o -type f -name '*.go' -print \
        | sed -e 's|^\./staging/src|vendor|' -e 's|^\./||' -e 's|/[^/]*$||' | LC_ALL=C sort -u)"
    local inputs=() dir
    while read -r dir; do
        case "${dir}" in vendor/k8s.io/code-generator/*|vendor/k8s.io/sample-apiserver/*) continue ;; esac
        if find "${dir}/" -maxdepth 1 -type f -name '*.go' -print0 | xargs -0 grep -l '^// *+k8s:' 2>/dev/null \
            | xargs -r grep -lq '+k8s:openapi-gen=' 2>/dev/null; then
            inputs+=("k8s.io/kubernetes/${dir}")
        fi
    done <<< "${dirs}"
    ((${#inputs[@]} > 50)) || die "found only ${#inputs[@]} openapi-gen packages"
    local IFS=,
    ./_output/bin/openapi-gen --logtostderr -v 1 \
        -i "${inputs[*]}" \
        -p k8s.io/kubernetes/pkg/generated/openapi \
        -O zz_generated.openapi \
        -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
        -r _output/openapi_violations.report \
        -o "${GOPATH_DIR}/src" > _output/openapi-gen.log 2>&1 \
        || { tail -n 30 _output/openapi-gen.log >&2; die "openapi-gen failed"; }
    [[ -s "${out}" ]] || die "openapi-gen wrote nothing"
}

build_binaries() {
    cd "${SOURCE_DIR}"
    local build_date ldflags="-s -w" key value pkg
    build_date="$(date -u +'%Y-%m-%dT%H:%M:%SZ')"
    local major="${K8S_VERSION#v}"; major="${major%%.*}"
    local minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
    # /version reads these; without them it reports v0.0.0.
    for pkg in k8s.io/kubernetes/vendor/k8s.io/component-base/version k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
        for key in gitVersion=${K8S_VERSION} gitMajor=${major} gitMinor=${minor} gitCommit=${K8S_GIT_COMMIT} \
                   gitTreeState=clean buildDate=${build_date}; do
            ldflags+=" -X ${pkg}.${key}"
        done
    done
    local targets=() b
    for b in "${BINARIES[@]}"; do targets+=("./cmd/${b}"); done
    log "building ${BINARIES[*]} ${K8S_VERSION} (go build -p 2; about 4 min from scratch on 2 cores)"
    mkdir -p "${K8S_BIN_DIR}.tmp"
    # GOGC keeps the linker's peak memory lower at little cost in time.
    GOGC=50 go build -p 2 -trimpath -ldflags "${ldflags}" -o "${K8S_BIN_DIR}.tmp/" "${targets[@]}"
    rm -rf "${K8S_BIN_DIR}"
    mv "${K8S_BIN_DIR}.tmp" "${K8S_BIN_DIR}"
    "${K8S_BIN_DIR}/kubectl" version --client --short 2>/dev/null | grep -q "${K8S_VERSION}" \
        || die "built kubectl does not report ${K8S_VERSION}"
    date -u +'%Y-%m-%dT%H:%M:%SZ' > "${STAMP}"
}

main() {
    ensure_runtime_packages
    if binaries_present; then
        return 0
    fi
    local started=${SECONDS}
    apt_install golang-1.19-go dpkg-dev
    mkdir -p "${K8S_CACHE_DIR}"
    fetch_source
    go_env
    generate_openapi
    build_binaries
    log "built in $((SECONDS - started)) s: ${K8S_BIN_DIR}"
}

main "$@"

#!/usr/bin/env bash
# Gói hệ thống (Debian 12) mà `make run` và `make test` cần; bước đầu của `make setup`.
# The Debian packages `make run` and `make test` need; the first step of `make setup`.
#
# Run as root, it installs what is missing with apt-get. Otherwise it prints the exact
# `sudo apt-get install ...` command and exits 1 (make setup stops there).
# Optional tools are only reported: Go >= 1.24 (make helm-check, tests/unit/helm build helm with it;
# Debian 12's golang is too old) and buildah + debootstrap (make images installs them itself).
#
#   postgresql               the devstack's PostgreSQL (initdb, postgres)
#   chromium                 the console's browser tests (tests/e2e; Playwright drives /usr/bin/chromium)
#   openjdk-17-jre-headless  the Kafka 4 broker of the devstack (Java >= 17)
#   maven                    fetches the broker's jars from Maven Central (deploy/kafka/pom.xml)
#   make                     this Makefile
#   python3.11-venv          the .venv (PYTHON=python3.11 by default)
#   openssl                  certificates for the TLS/mTLS tests
set -euo pipefail

PYTHON="${PYTHON:-python3.11}"

java_major() {
    command -v java >/dev/null || { echo 0; return; }
    java -version 2>&1 | sed -nE '1s/.*version "([0-9]+).*/\1/p'
}

missing=()
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
[[ -x "${CITYOPS_CHROMIUM:-/usr/bin/chromium}" ]] || command -v chromium >/dev/null || missing+=(chromium)
[[ $(java_major) -ge 17 ]] || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v make >/dev/null || missing+=(make)
command -v openssl >/dev/null || missing+=(openssl)
if ! "${PYTHON}" -c 'import ensurepip, venv' 2>/dev/null; then
    if [[ "${PYTHON}" == python3.11 ]]; then
        missing+=(python3.11 python3.11-venv)
    else
        echo "✘ ${PYTHON} thiếu hoặc không có venv / is missing or lacks venv (PYTHON=${PYTHON})" >&2
        exit 1
    fi
fi

if [[ ${#missing[@]} -eq 0 ]]; then
    echo "  gói hệ thống đã đủ (system packages: all present)"
else
    cmd=(apt-get install -y -q --no-install-recommends "${missing[@]}")
    if [[ ${EUID} -ne 0 ]]; then
        echo "✘ Thiếu gói hệ thống / missing system packages: ${missing[*]}" >&2
        echo "  Chạy lệnh sau rồi chạy lại \`make setup\` / run this, then \`make setup\` again:" >&2
        echo >&2
        echo "    sudo apt-get update && sudo ${cmd[*]}" >&2
        echo >&2
        exit 1
    fi
    echo "  cài đặt / installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    "${cmd[@]}" >/dev/null
    echo "  đã cài / installed: ${missing[*]}"
fi

go_bin="$(command -v go || echo /usr/local/go/bin/go)"
if [[ -x "${go_bin}" ]]; then
    go_minor="$("${go_bin}" env GOVERSION 2>/dev/null | sed -nE 's/^go1\.([0-9]+).*/\1/p')"
    if [[ -z "${go_minor}" || "${go_minor}" -lt 24 ]]; then
        echo "  ⚠ Go quá cũ / too old ($("${go_bin}" env GOVERSION)): make helm-check và tests/unit/helm cần Go >= 1.24 / need Go >= 1.24"
    fi
else
    echo "  ⚠ không có Go / no Go: make helm-check và tests/unit/helm cần Go >= 1.24 / need Go >= 1.24"
fi
if ! command -v buildah >/dev/null; then
    echo "  (make images sẽ tự cài buildah + debootstrap / will install buildah + debootstrap itself)"
fi

# `make run` (`cityops up`) listens on fixed gRPC ports 50051–50054, inside Linux's ephemeral range
# (32768–60999): any outgoing connection may borrow one as its source port, and the city then
# refuses to start ("port busy"; the test suite saw it once with Kafka and Postgres clients all
# around). Reserved ports are never handed out as ephemeral ones. As root, best effort (a container
# may have a read-only /proc/sys): kept in /etc/sysctl.d for the next boots.
CITY_PORTS="50051-50054"
reserved_file=/proc/sys/net/ipv4/ip_local_reserved_ports
if [[ -r ${reserved_file} ]]; then
    current="$(cat "${reserved_file}")"
    if [[ ",${current}," == *",${CITY_PORTS},"* ]]; then
        echo "  cổng của thành phố đã được giữ (city ports reserved): ${CITY_PORTS}"
    elif [[ ${EUID} -eq 0 ]]; then
        wanted="${current:+${current},}${CITY_PORTS}"
        if sysctl -q -w "net.ipv4.ip_local_reserved_ports=${wanted}" 2>/dev/null; then
            printf 'net.ipv4.ip_local_reserved_ports = %s\n' "${wanted}" > /etc/sysctl.d/60-cityops-ports.conf 2>/dev/null || true
            echo "  giữ cổng cho thành phố (reserved the city's ports): ${CITY_PORTS}"
        else
            echo "  ⚠ không giữ được cổng / could not reserve ports ${CITY_PORTS} (read-only /proc/sys?)"
        fi
    else
        echo "  (giữ cổng / to reserve the city's ports: sudo sysctl -w net.ipv4.ip_local_reserved_ports=${CITY_PORTS})"
    fi
fi

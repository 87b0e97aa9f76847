#!/usr/bin/env bash
# promtool (Prometheus's rule checker) built from the Go module proxy, cached next to helm in
# .cache/tools/bin (built once, a few minutes). Used by tests/unit/helm/test_monitoring.py to run
# `promtool check rules` and `promtool test rules` on the chart's rendered PrometheusRule.
#   helm/promtool.sh            build (or find) promtool and print its path
#   helm/promtool.sh ARGS...    build (or find) it, then run `promtool ARGS...`
# The Go module version v0.316.0 is Prometheus 3.16.0 (Prometheus tags its Go module v0.3xx.y).
# Built with -tags remove_all_sd: rule checks need no service discovery, and leaving out the cloud
# SDKs (AWS, Azure, GCE, Kubernetes, ...) makes the build several times shorter.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROMETHEUS_MODULE_VERSION="v0.316.0"
TOOLS="${ROOT}/.cache/tools"
# Go's module and build caches are the machine's own (go env), not the checkout's: a fresh clone
# on a machine that built the tools once relinks them in seconds instead of recompiling Helm.
GO_TOOLS_GOPATH="${CITYOPS_GOPATH:-$(go env GOPATH 2>/dev/null || echo "${TOOLS}/gopath")}"
GO_TOOLS_GOCACHE="${CITYOPS_GOCACHE:-$(go env GOCACHE 2>/dev/null || echo "${TOOLS}/gocache")}"
PROMTOOL="${TOOLS}/bin/promtool"

go_bin="$(command -v go || echo /usr/local/go/bin/go)"
if ! { [[ -x "$PROMTOOL" && -x "$go_bin" ]] \
       && "$go_bin" version -m "$PROMTOOL" 2>/dev/null \
          | grep -qE "mod[[:space:]]+github.com/prometheus/prometheus[[:space:]]+${PROMETHEUS_MODULE_VERSION}[[:space:]]"; }; then
  [[ -x "$go_bin" ]] || { echo "LỖI: không có Go để build promtool / no Go toolchain" >&2; exit 1; }
  echo "build promtool ${PROMETHEUS_MODULE_VERSION} (go install, vài phút / a few minutes)..." >&2
  mkdir -p "${TOOLS}/bin"
  GOBIN="${TOOLS}/bin" GOPATH="${GO_TOOLS_GOPATH}" GOCACHE="${GO_TOOLS_GOCACHE}" GOFLAGS=-modcacherw \
    "$go_bin" install -tags remove_all_sd "github.com/prometheus/prometheus/cmd/promtool@${PROMETHEUS_MODULE_VERSION}" >&2
fi
if [[ $# -eq 0 ]]; then
  echo "$PROMTOOL"
else
  exec "$PROMTOOL" "$@"
fi

#!/usr/bin/env bash
# Kiểm tra chart CityOps bằng helm thật (make helm-check). Check the chart with the real helm.
#   1. helm v3.22.0 built from the Go module proxy, cached in .cache/tools/bin (built once);
#   2. helm lint --strict for each example values file (deploy/values/*.yaml) and the defaults;
#   3. helm template for each, with the CRD APIs (Strimzi, KEDA, Prometheus Operator) and without
#      them (fallbacks: HPA, topics Job), validated by kubernetes-validate --strict plus strict CRD
#      subsets (helm/validate_manifests.py);
#   4. bad values (unknown key, wrong type, bad enum) must be REJECTED by values.schema.json.
# Prints a summary table; exits non-zero on any failure.
# `helm/check.sh --build-helm` only builds (or finds) helm and prints its path.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="${ROOT}/helm/cityops"
HELM_VERSION="v3.22.0"
TOOLS="${ROOT}/.cache/tools"
HELM="${TOOLS}/bin/helm"
KUBE_VERSION="${CITYOPS_KUBE_VERSION:-1.35.0}"
# The oldest Kubernetes the chart claims (Chart.yaml kubeVersion); production is validated there too.
KUBE_MIN_VERSION="1.29.0"
CRD_APIS=(--api-versions keda.sh/v1alpha1 --api-versions monitoring.coreos.com/v1
          --api-versions kafka.strimzi.io/v1beta2)
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PY="${ROOT}/.venv/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"

ensure_helm() {
  local go_bin
  go_bin="$(command -v go || echo /usr/local/go/bin/go)"
  # `go install` leaves no version in `helm version`; the module version is in the build info.
  if [[ -x "$HELM" && -x "$go_bin" ]] \
     && "$go_bin" version -m "$HELM" 2>/dev/null | grep -qE "mod[[:space:]]+helm.sh/helm/v3[[:space:]]+${HELM_VERSION}[[:space:]]"; then
    return 0
  fi
  [[ -x "$go_bin" ]] || { echo "LỖI: không có Go để build helm / no Go toolchain" >&2; return 1; }
  echo "build helm ${HELM_VERSION} (go install, vài phút / a few minutes)..." >&2
  mkdir -p "${TOOLS}/bin"
  GOBIN="${TOOLS}/bin" GOPATH="${TOOLS}/gopath" GOCACHE="${TOOLS}/gocache" GOFLAGS=-modcacherw \
    "$go_bin" install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}" >&2
}

declare -a ROWS=()
failures=0
record() {  # record STATUS CHECK DETAIL
  ROWS+=("$(printf '%-5s | %-44s | %s' "$1" "$2" "$3")")
  [[ "$1" == "OK" ]] || failures=$((failures + 1))
}

run_check() {  # run_check NAME LOGFILE cmd...
  local name="$1" log="$2"; shift 2
  if "$@" >"$log" 2>&1; then
    record OK "$name" "$(tail -n 1 "$log" | cut -c1-110)"
  else
    record FAIL "$name" "$(grep -m1 -iE 'error|lỗi|fail' "$log" | cut -c1-110)"
    sed 's/^/    /' "$log" | tail -n 20 >&2
  fi
}

lint() {  # lint VALUES_FILE_OR_EMPTY
  local args=(lint --strict "$CHART" --kube-version "$KUBE_VERSION")
  [[ -n "$1" ]] && args+=(-f "$1")
  "$HELM" "${args[@]}" || return 1
  # lint reports template `fail` calls only as INFO; treat them as failures.
  ! "$HELM" "${args[@]}" 2>&1 | grep -q '\[INFO\] Fail:'
}

render_and_validate() {  # render_and_validate OUT KUBE_VERSION VALUES_FILE_OR_EMPTY [helm args...]
  local out="$1" kv="$2" values="$3"; shift 3
  local args=(template cityops "$CHART" --namespace cityops --kube-version "$kv" "$@")
  [[ -n "$values" ]] && args+=(-f "$values")
  "$HELM" "${args[@]}" >"$out" || return 1
  "$PY" "${ROOT}/helm/validate_manifests.py" -k "$kv" "$out"
}

expect_rejected() {  # expect_rejected VALUES_YAML — the schema must refuse it
  local bad="${WORK}/bad.yaml"
  printf '%s\n' "$1" >"$bad"
  local out
  if out="$("$HELM" template cityops "$CHART" --kube-version "$KUBE_VERSION" -f "$bad" 2>&1)"; then
    echo "accepted (must be rejected): $1"; return 1
  fi
  if ! grep -q "values don't meet the specifications of the schema" <<<"$out"; then
    echo "rejected, but not by the schema: $(head -n 3 <<<"$out")"; return 1
  fi
  echo "rejected by schema: $(grep -m1 -E "additional properties|got |value must be|missing property" <<<"$out" | sed 's/^ *//')"
}

main() {
  if [[ "${1:-}" == "--build-helm" ]]; then  # used by tests/unit/helm/conftest.py
    ensure_helm && echo "$HELM"; return
  fi
  ensure_helm || { record FAIL "build helm ${HELM_VERSION}" "go install failed"; }
  if [[ ! -x "$HELM" ]]; then printf '%s\n' "${ROWS[@]}"; exit 1; fi
  "$PY" -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null \
    || { echo "LỖI: thiếu kubernetes-validate (make setup) / missing kubernetes-validate" >&2; exit 1; }

  run_check "lint --strict (defaults)" "${WORK}/lint-default.log" lint ""
  run_check "render+validate (defaults, no CRDs)" "${WORK}/r-default.log" \
    render_and_validate "${WORK}/default.yaml" "$KUBE_VERSION" ""
  local env values
  for env in local staging production; do
    values="${ROOT}/deploy/values/${env}.yaml"
    run_check "lint --strict (${env})" "${WORK}/lint-${env}.log" lint "$values"
    run_check "render+validate ${env} (CRDs, k8s ${KUBE_VERSION})" "${WORK}/r-${env}.log" \
      render_and_validate "${WORK}/${env}.yaml" "$KUBE_VERSION" "$values" "${CRD_APIS[@]}"
    run_check "render+validate ${env} (fallback, no CRDs)" "${WORK}/f-${env}.log" \
      render_and_validate "${WORK}/${env}-fallback.yaml" "$KUBE_VERSION" "$values"
  done
  run_check "render+validate production (k8s ${KUBE_MIN_VERSION})" "${WORK}/r-min.log" \
    render_and_validate "${WORK}/production-min.yaml" "$KUBE_MIN_VERSION" \
    "${ROOT}/deploy/values/production.yaml" "${CRD_APIS[@]}"
  run_check "render (externalKafka, CRDs present)" "${WORK}/r-ext.log" \
    render_and_validate "${WORK}/external.yaml" "$KUBE_VERSION" "${ROOT}/deploy/values/production.yaml" \
    "${CRD_APIS[@]}" --set kafka.externalKafka.enabled=true --set 'kafka.externalKafka.cidrs={10.20.0.0/16}'

  run_check "schema rejects unknown top-level key" "${WORK}/s1.log" expect_rejected 'replicaCount: 3'
  run_check "schema rejects unknown nested key" "${WORK}/s2.log" \
    expect_rejected $'services:\n  incidents:\n    api:\n      replicaz: 2'
  run_check "schema rejects wrong type" "${WORK}/s3.log" \
    expect_rejected $'services:\n  sensors:\n    worker:\n      replicas: "two"'
  run_check "schema rejects bad enum" "${WORK}/s4.log" expect_rejected $'image:\n  pullPolicy: Sometimes'
  run_check "schema rejects missing limits" "${WORK}/s5.log" \
    expect_rejected $'migrations:\n  resources:\n    limits: null'

  printf '\n%-5s | %-44s | %s\n' "KQ" "kiểm tra / check" "chi tiết / detail"
  printf '%s\n' "------+----------------------------------------------+-----------------------------"
  printf '%s\n' "${ROWS[@]}"
  if [[ $failures -gt 0 ]]; then
    printf '\nhelm-check: %d failed\n' "$failures"; exit 1
  fi
  printf '\nhelm-check: %d passed, 0 failed\n' "${#ROWS[@]}"
}

main "$@"

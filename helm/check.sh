#!/usr/bin/env bash
# Kiểm tra chart CityOps bằng helm thật (make helm-check). Check the chart with the real helm.
#   1. Helm 4 (v4.3.1) and Helm 3 (v3.22.0, while clusters still run it), each built once by
#      `go install` from the Go module proxy and cached in .cache/tools/bin/helm-<version>;
#   2. with EACH of them: helm lint --strict for the defaults and every example values file
#      (deploy/values/*.yaml);
#   3. helm template for each, against the Strimzi 1.x API (kafka.strimzi.io/v1) and the Strimzi
#      0.4x/0.5x API (v1beta2 only), with and without KEDA / Prometheus Operator / Gateway API, and
#      with externalKafka; every object validated by kubernetes-validate --strict, custom resources
#      against the REAL Strimzi 1.2.0 / 0.51.0 and KEDA 2.20.2 CRDs (../shared/k8s-crds, a setting:
#      CITYOPS_K8S_CRDS; helm/validate_manifests.py);
#   4. what must fail, fails: Strimzi requested but not served, an HTTPRoute without Gateway API, and
#      bad values (unknown key, wrong type, bad enum) rejected by values.schema.json;
#   5. Helm 4 and Helm 3 render the same objects;
#   6. the cert-manager Certificates (gRPC TLS) against cert-manager's real CRDs, fetched from the Go
#      module proxy into .cache/tools/crds (never vendored), and a bad Certificate is refused.
# Prints a summary table; exits non-zero on any failure.
# `helm/check.sh --build-helm` only builds (or finds) both helms and prints "<version> <path>" lines.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART="${ROOT}/helm/cityops"
HELM_VERSIONS=(v4.3.1 v3.22.0)
TOOLS="${ROOT}/.cache/tools"
# Go's module and build caches are the machine's own (go env), not the checkout's: a fresh clone
# on a machine that built the tools once relinks them in seconds instead of recompiling Helm.
GO_TOOLS_GOPATH="${CITYOPS_GOPATH:-$(go env GOPATH 2>/dev/null || echo "${TOOLS}/gopath")}"
GO_TOOLS_GOCACHE="${CITYOPS_GOCACHE:-$(go env GOCACHE 2>/dev/null || echo "${TOOLS}/gocache")}"
CRDS="${CITYOPS_K8S_CRDS:-${ROOT}/../shared/k8s-crds}"
STRIMZI_1="${CRDS}/strimzi-1.2.0"
STRIMZI_0="${CRDS}/strimzi-0.51.0"
KEDA="${CRDS}/keda-v2.20.2"
# cert-manager's own CRDs (the Certificate the chart renders for gRPC TLS), not vendored: fetched once
# from the Go module proxy (`go mod download` of the cert-manager module) and cached under
# .cache/tools/crds/cert-manager-<version>. `helm/check.sh --cert-manager-crds` prints that folder.
CERT_MANAGER_VERSION="${CITYOPS_CERT_MANAGER_VERSION:-v1.16.5}"
CERT_MANAGER_FILES=(crd-certificates.yaml crd-issuers.yaml crd-clusterissuers.yaml)
KUBE_VERSION="${CITYOPS_KUBE_VERSION:-1.35.0}"
# The oldest Kubernetes the chart claims (Chart.yaml kubeVersion); production is validated there too.
KUBE_MIN_VERSION="1.29.0"
OTHER_APIS=(--api-versions keda.sh/v1alpha1 --api-versions monitoring.coreos.com/v1
            --api-versions gateway.networking.k8s.io/v1)
APIS_V1=(--api-versions kafka.strimzi.io/v1 "${OTHER_APIS[@]}")
APIS_V1BETA2=(--api-versions kafka.strimzi.io/v1beta2 "${OTHER_APIS[@]}")
FEATURES="${ROOT}/helm/test-values/features.yaml"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PY="${ROOT}/.venv/bin/python"
[[ -x "$PY" ]] || PY="$(command -v python3)"

helm_path() { echo "${TOOLS}/bin/helm-$1"; }

ensure_helm() {  # ensure_helm VERSION
  local version="$1" go_bin bin major
  bin="$(helm_path "$version")"
  major="${version%%.*}"
  go_bin="$(command -v go || echo /usr/local/go/bin/go)"
  # `go install` leaves no version in `helm version`; the module version is in the build info.
  if [[ -x "$bin" && -x "$go_bin" ]] \
     && "$go_bin" version -m "$bin" 2>/dev/null | grep -qE "mod[[:space:]]+helm.sh/helm/${major}[[:space:]]+${version}[[:space:]]"; then
    return 0
  fi
  [[ -x "$go_bin" ]] || { echo "LỖI: không có Go để build helm / no Go toolchain" >&2; return 1; }
  echo "build helm ${version} (go install, vài phút / a few minutes)..." >&2
  mkdir -p "${TOOLS}/bin"
  local started=$SECONDS
  # One GOBIN name per major: `go install` always writes bin/helm, renamed at once.
  GOBIN="${TOOLS}/bin" GOPATH="${GO_TOOLS_GOPATH}" GOCACHE="${GO_TOOLS_GOCACHE}" GOFLAGS=-modcacherw \
    "$go_bin" install "helm.sh/helm/${major}/cmd/helm@${version}" >&2 || return 1
  mv -f "${TOOLS}/bin/helm" "$bin"
  echo "helm ${version}: built in $((SECONDS - started)) s" >&2
}

cert_manager_crds() {  # cert_manager_crds — prints the folder with cert-manager's CRDs, fetching them once
  local dest="${TOOLS}/crds/cert-manager-${CERT_MANAGER_VERSION}" go_bin dir f
  if [[ -s "${dest}/${CERT_MANAGER_FILES[0]}" ]]; then echo "$dest"; return 0; fi
  go_bin="$(command -v go || echo /usr/local/go/bin/go)"
  [[ -x "$go_bin" ]] || { echo "LỖI: không có Go để tải CRD cert-manager / no Go toolchain" >&2; return 1; }
  # Outside any module (an empty folder), so nothing of this repository is resolved.
  local scratch; scratch="$(mktemp -d)"
  dir="$(cd "$scratch" && GOPATH="${GO_TOOLS_GOPATH}" GOFLAGS="-mod=mod -modcacherw" \
    "$go_bin" mod download -json "github.com/cert-manager/cert-manager@${CERT_MANAGER_VERSION}" \
    | "$PY" -c 'import json, sys; d = json.load(sys.stdin); print(d.get("Dir") or ""); sys.exit(1 if d.get("Error") else 0)')"
  local rc=$?
  rm -rf "$scratch"
  [[ $rc -eq 0 && -d "${dir}/deploy/crds" ]] \
    || { echo "LỖI: tải cert-manager ${CERT_MANAGER_VERSION} từ Go proxy thất bại / fetching it from the Go module proxy failed" >&2; return 1; }
  mkdir -p "${dest}.tmp"
  for f in "${CERT_MANAGER_FILES[@]}"; do cp "${dir}/deploy/crds/${f}" "${dest}.tmp/${f}" || return 1; done
  rm -rf "$dest" && mv "${dest}.tmp" "$dest"
  echo "$dest"
}

declare -a ROWS=()
failures=0
record() {  # record STATUS CHECK DETAIL
  ROWS+=("$(printf '%-5s | %-58s | %s' "$1" "$2" "$3")")
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

lint() {  # lint HELM VALUES_FILE_OR_EMPTY — lint renders without a cluster, so the Strimzi API is forced
  local helm="$1" values="$2"
  local args=(lint --strict "$CHART" --kube-version "$KUBE_VERSION" --set kafka.strimzi.apiVersion=kafka.strimzi.io/v1)
  [[ -n "$values" ]] && args+=(-f "$values")
  local out
  out="$("$helm" "${args[@]}" 2>&1)" || { echo "$out"; return 1; }
  echo "$out"
  # lint reports template `fail` calls only as INFO (Helm 3 "[INFO] Fail:", Helm 4 "funcMap fail");
  # treat them as failures.
  ! grep -qE '\[INFO\] Fail:|funcMap fail' <<<"$out"
}

render_and_validate() {  # render_and_validate HELM OUT KUBE_VERSION VALUES_FILE_OR_EMPTY CRD_DIRS [helm args...]
  local helm="$1" out="$2" kv="$3" values="$4" crd_dirs="$5"; shift 5
  local args=(template cityops "$CHART" --namespace cityops --kube-version "$kv" "$@")
  [[ -n "$values" ]] && args+=(-f "$values")
  "$helm" "${args[@]}" >"$out" || return 1
  local crd_args=() dir
  for dir in $crd_dirs; do crd_args+=(--crds "$dir"); done
  "$PY" "${ROOT}/helm/validate_manifests.py" -k "$kv" "${crd_args[@]}" "$out"
}

expect_render_failure() {  # expect_render_failure HELM EXPECTED_TEXT [helm args...] — a clear `fail`, not a silent fallback
  local helm="$1" expected="$2"; shift 2
  local out
  if out="$("$helm" template cityops "$CHART" --kube-version "$KUBE_VERSION" "$@" 2>&1)"; then
    echo "rendered (must fail): $*"; return 1
  fi
  if ! grep -qF "$expected" <<<"$out"; then
    echo "failed, but without the message '${expected}': $(head -n 3 <<<"$out")"; return 1
  fi
  echo "fails clearly: $(grep -m1 -F "$expected" <<<"$out" | cut -c1-90)"
}

expect_rejected() {  # expect_rejected HELM VALUES_YAML — the schema must refuse it
  local helm="$1" bad="${WORK}/bad.yaml"
  printf '%s\n' "$2" >"$bad"
  local out
  if out="$("$helm" template cityops "$CHART" --kube-version "$KUBE_VERSION" "${APIS_V1[@]}" -f "$bad" 2>&1)"; then
    echo "accepted (must be rejected): $2"; return 1
  fi
  if ! grep -q "values don't meet the specifications of the schema" <<<"$out"; then
    echo "rejected, but not by the schema: $(head -n 3 <<<"$out")"; return 1
  fi
  echo "rejected by schema: $(grep -m1 -iE "additional propert|got |value must be|missing propert|expected|must be" <<<"$out" | sed 's/^ *//' | cut -c1-90)"
}

expect_invalid_certificate() {  # expect_invalid_certificate RENDERED — the CRD check can fail: a bad field is refused
  local bad="${WORK}/bad-certificate.yaml"
  "$PY" - "$1" "$bad" <<'PY' || return 1
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1], encoding="utf-8")) if d and d.get("kind") == "Certificate"]
if not docs:
    sys.exit("no Certificate rendered")
cert = docs[0]
cert["spec"]["dnsNamez"] = ["typo.example"]  # an unknown field (the API server's strict validation)
yaml.safe_dump(cert, open(sys.argv[2], "w", encoding="utf-8"))
PY
  local out
  if out="$("$PY" "${ROOT}/helm/validate_manifests.py" -k "$KUBE_VERSION" --crds "$CERT_MANAGER" "$bad" 2>&1)"; then
    echo "accepted (must be refused): $out"; return 1
  fi
  grep -q "dnsNamez" <<<"$out" || { echo "refused, but not for the bad field: $out"; return 1; }
  echo "refused by the CRD: $(grep -m1 'LỖI/ERROR' <<<"$out" | cut -c1-90)"
}

same_output() {  # same_output FILE_A FILE_B — the same objects (whitespace between documents may differ)
  "$PY" - "$1" "$2" <<'PY'
import sys, difflib, yaml
a, b = ([d for d in yaml.safe_load_all(open(p, encoding="utf-8")) if d] for p in sys.argv[1:3])
# Keys the chart generates at random (JWT, app keys: Secrets kept across upgrades) differ by render.
for d in (*a, *b):
    if d.get("kind") == "Secret" and (d["metadata"].get("annotations") or {}).get("helm.sh/resource-policy") == "keep":
        d["data"] = {k: "<random>" for k in d.get("data") or {}}
if a == b:
    print(f"identical objects ({len(a)})")
    sys.exit(0)
dump = lambda docs: yaml.safe_dump_all(docs, sort_keys=True).splitlines()
print("\n".join(list(difflib.unified_diff(dump(a), dump(b), lineterm=""))[:30]))
sys.exit(1)
PY
}

check_with() {  # check_with VERSION — every lint and render with one helm
  local v="$1" helm
  helm="$(helm_path "$v")"
  local w="${WORK}/${v}"
  mkdir -p "$w"
  run_check "[${v}] lint --strict (defaults)" "${w}/lint-default.log" lint "$helm" ""
  run_check "[${v}] render defaults (Strimzi v1, no other CRDs)" "${w}/r-default.log" \
    render_and_validate "$helm" "${w}/default.yaml" "$KUBE_VERSION" "" "$STRIMZI_1" --api-versions kafka.strimzi.io/v1
  local env values
  for env in local staging production; do
    values="${ROOT}/deploy/values/${env}.yaml"
    run_check "[${v}] lint --strict (${env})" "${w}/lint-${env}.log" lint "$helm" "$values"
    run_check "[${v}] ${env}: Strimzi 1.2.0 (v1) + KEDA CRDs" "${w}/r-${env}.log" \
      render_and_validate "$helm" "${w}/${env}.yaml" "$KUBE_VERSION" "$values" "$STRIMZI_1 $KEDA" "${APIS_V1[@]}"
    run_check "[${v}] ${env}: Strimzi 0.51.0 (v1beta2 only) + KEDA" "${w}/r-${env}-0.log" \
      render_and_validate "$helm" "${w}/${env}-v1beta2.yaml" "$KUBE_VERSION" "$values" "$STRIMZI_0 $KEDA" "${APIS_V1BETA2[@]}"
  done
  run_check "[${v}] production v1 CRs on Strimzi 0.51.0 (serves v1 too)" "${w}/r-prod-051.log" \
    "$PY" "${ROOT}/helm/validate_manifests.py" -k "$KUBE_VERSION" --crds "$STRIMZI_0" --crds "$KEDA" "${w}/production.yaml"
  run_check "[${v}] production (k8s ${KUBE_MIN_VERSION})" "${w}/r-min.log" \
    render_and_validate "$helm" "${w}/production-min.yaml" "$KUBE_MIN_VERSION" \
    "${ROOT}/deploy/values/production.yaml" "$STRIMZI_1 $KEDA" "${APIS_V1[@]}"
  run_check "[${v}] production + every option (helm/test-values)" "${w}/r-features.log" \
    render_and_validate "$helm" "${w}/features.yaml" "$KUBE_VERSION" "${ROOT}/deploy/values/production.yaml" \
    "$STRIMZI_1 $KEDA" "${APIS_V1[@]}" -f "$FEATURES"
  run_check "[${v}] production + cert-manager TLS: Certificates vs cert-manager ${CERT_MANAGER_VERSION} CRDs" "${w}/r-cm.log" \
    render_and_validate "$helm" "${w}/cert-manager.yaml" "$KUBE_VERSION" "${ROOT}/deploy/values/production.yaml" \
    "$STRIMZI_1 $KEDA $CERT_MANAGER" "${APIS_V1[@]}" --api-versions cert-manager.io/v1 --set tls.existingSecrets=null
  run_check "[${v}] a Certificate the CRD refuses is caught" "${w}/f-cm.log" \
    expect_invalid_certificate "${w}/cert-manager.yaml"
  run_check "[${v}] externalKafka, no CRD APIs (topics Job, HPA)" "${w}/r-ext.log" \
    render_and_validate "$helm" "${w}/external.yaml" "$KUBE_VERSION" "${ROOT}/deploy/values/production.yaml" "$KEDA" \
    --set kafka.externalKafka.enabled=true --set 'kafka.externalKafka.cidrs={10.20.0.0/16}'

  run_check "[${v}] no Strimzi served -> clear failure" "${w}/f-strimzi.log" \
    expect_render_failure "$helm" "Strimzi is requested" -f "${ROOT}/deploy/values/production.yaml"
  run_check "[${v}] httpRoute without Gateway API -> clear failure" "${w}/f-route.log" \
    expect_render_failure "$helm" "does not serve gateway.networking.k8s.io/v1" \
    --api-versions kafka.strimzi.io/v1 --set httpRoute.enabled=true

  run_check "[${v}] schema rejects unknown top-level key" "${w}/s1.log" expect_rejected "$helm" 'replicaCount: 3'
  run_check "[${v}] schema rejects unknown nested key" "${w}/s2.log" \
    expect_rejected "$helm" $'services:\n  incidents:\n    api:\n      replicaz: 2'
  run_check "[${v}] schema rejects wrong type" "${w}/s3.log" \
    expect_rejected "$helm" $'services:\n  sensors:\n    worker:\n      replicas: "two"'
  run_check "[${v}] schema rejects bad enum" "${w}/s4.log" expect_rejected "$helm" $'image:\n  pullPolicy: Sometimes'
  run_check "[${v}] schema rejects missing limits" "${w}/s5.log" \
    expect_rejected "$helm" $'migrations:\n  resources:\n    limits: null'
  run_check "[${v}] schema rejects an unknown Strimzi API" "${w}/s6.log" \
    expect_rejected "$helm" $'kafka:\n  strimzi:\n    apiVersion: kafka.strimzi.io/v2'
}

main() {
  local v
  if [[ "${1:-}" == "--build-helm" ]]; then  # used by tests/unit/helm/conftest.py
    for v in "${HELM_VERSIONS[@]}"; do ensure_helm "$v" || return 1; echo "$v $(helm_path "$v")"; done
    return
  fi
  if [[ "${1:-}" == "--cert-manager-crds" ]]; then  # used by tests/unit/helm/conftest.py
    cert_manager_crds
    return
  fi
  local missing=0
  for v in "${HELM_VERSIONS[@]}"; do
    ensure_helm "$v" || { record FAIL "build helm ${v}" "go install failed"; missing=1; }
  done
  if [[ $missing -ne 0 ]]; then printf '%s\n' "${ROWS[@]}"; exit 1; fi
  "$PY" -c 'import kubernetes_validate, jsonschema, yaml' 2>/dev/null \
    || { echo "LỖI: thiếu kubernetes-validate (make setup) / missing kubernetes-validate" >&2; exit 1; }
  [[ -d "$STRIMZI_1" && -d "$STRIMZI_0" && -d "$KEDA" ]] \
    || { echo "LỖI: không thấy CRD thật / real CRDs not found under ${CRDS} (CITYOPS_K8S_CRDS)" >&2; exit 1; }

  CERT_MANAGER="$(cert_manager_crds)" \
    || { echo "LỖI: không có CRD cert-manager ${CERT_MANAGER_VERSION} / cert-manager CRDs unavailable (Go module proxy)" >&2; exit 1; }

  for v in "${HELM_VERSIONS[@]}"; do check_with "$v"; done
  local a="${HELM_VERSIONS[0]}" b="${HELM_VERSIONS[1]}" f
  for f in production.yaml production-v1beta2.yaml features.yaml external.yaml; do
    run_check "helm ${a} and ${b} render the same ${f}" "${WORK}/same-${f}.log" same_output "${WORK}/${a}/${f}" "${WORK}/${b}/${f}"
  done

  printf '\n%-5s | %-58s | %s\n' "KQ" "kiểm tra / check" "chi tiết / detail"
  printf '%s\n' "------+------------------------------------------------------------+-----------------------------"
  printf '%s\n' "${ROWS[@]}"
  if [[ $failures -gt 0 ]]; then
    printf '\nhelm-check: %d failed\n' "$failures"; exit 1
  fi
  printf '\nhelm-check: %d passed, 0 failed\n' "${#ROWS[@]}"
}

main "$@"

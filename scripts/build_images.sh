#!/usr/bin/env bash
# Xây các image CityOps bằng buildah (--isolation chroot), không cần Docker hay registry.
# Build the CityOps images with buildah (--isolation chroot); no Docker, no image registry.
#
# Vì sao có base riêng: máy CI không tới được registry image nào, nên ảnh nền là một rootfs
# Debian bookworm làm bằng debootstrap (python3 của bookworm là 3.11, khớp với dự án), nhập
# thành image cục bộ localhost/cityops-base:bookworm và được cache lại.
# Why a home-made base: no image registry is reachable here, so the base is a debootstrap
# rootfs imported as a local image. Users building elsewhere keep the Dockerfile default
# (python:3.11-slim) or pass BASE_IMAGE themselves.
#
# Usage: scripts/build_images.sh [--base-only] [--rebuild-base] [target...]
#   targets default to: cityops incidents dispatch sensors notifications gateway
# Env: CITYOPS_IMAGE_TAG (default: dev), CITYOPS_DEBIAN_MIRROR, BASE_IMAGE (skip debootstrap),
#      CITYOPS_BUILD_CA_BUNDLE (CA bundle lent to RUN steps; default: the host's).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${ROOT}/.cache/images"
BASE_REF="localhost/cityops-base:bookworm"
ROOTFS_TAR="${CACHE}/bookworm-rootfs.tar"
MIRROR="${CITYOPS_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TAG="${CITYOPS_IMAGE_TAG:-dev}"
HOST_CA="${CITYOPS_BUILD_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
ALL_TARGETS=(cityops incidents dispatch sensors notifications gateway)

base_only=0
rebuild_base=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --base-only) base_only=1 ;;
    --rebuild-base) rebuild_base=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) targets+=("$arg") ;;
  esac
done
[[ ${#targets[@]} -eq 0 ]] && targets=("${ALL_TARGETS[@]}")

log() { printf '[build_images] %s\n' "$*" >&2; }
declare -a SUMMARY=()
timed() {  # timed LABEL cmd... — records wall time of each step for the summary table
  local label="$1"; shift
  local start=$SECONDS
  "$@"
  SUMMARY+=("$(printf '%-34s %5ss' "$label" "$((SECONDS - start))")")
}

ensure_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  if [[ ${#missing[@]} -gt 0 ]]; then
    log "cài đặt / installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

make_rootfs_tar() {
  # debootstrap into a temp dir, then keep only a tarball: re-importing it is seconds.
  local dir
  dir="$(mktemp -d "${CACHE}/rootfs.XXXXXX")"
  log "debootstrap bookworm -> ${dir} (${MIRROR})"
  debootstrap --variant=minbase \
    --include=python3,python3-venv,ca-certificates \
    bookworm "$dir" "$MIRROR" >"${CACHE}/debootstrap.log" 2>&1 \
    || { tail -30 "${CACHE}/debootstrap.log" >&2; rm -rf "$dir"; return 1; }
  # apt lists and caches are dead weight in an image layer.
  rm -rf "${dir}/var/cache/apt/archives/"*.deb "${dir}/var/lib/apt/lists/"*
  tar -C "$dir" --numeric-owner -cf "${ROOTFS_TAR}.tmp" .
  mv "${ROOTFS_TAR}.tmp" "$ROOTFS_TAR"
  rm -rf "$dir"
}

import_base() {
  local ctr mnt
  ctr="$(buildah from scratch)"
  mnt="$(buildah mount "$ctr")"
  tar -C "$mnt" --numeric-owner -xf "$ROOTFS_TAR"
  buildah umount "$ctr" >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 \
    --cmd '["python3"]' \
    --label org.opencontainers.image.description="Debian bookworm + python3 (debootstrap), CityOps CI base" \
    "$ctr"
  buildah commit --rm --quiet "$ctr" "$BASE_REF" >/dev/null
}

ensure_base() {
  if [[ -n "${BASE_IMAGE:-}" ]]; then
    BASE_REF="$BASE_IMAGE"; log "dùng BASE_IMAGE=${BASE_REF}"; return
  fi
  mkdir -p "$CACHE"
  if [[ $rebuild_base -eq 1 ]]; then
    rm -f "$ROOTFS_TAR"; buildah rmi -f "$BASE_REF" >/dev/null 2>&1 || true
  fi
  if buildah inspect --type image "$BASE_REF" >/dev/null 2>&1; then
    log "base ${BASE_REF} đã có (cache)"; return
  fi
  [[ -f "$ROOTFS_TAR" ]] || timed "debootstrap rootfs" make_rootfs_tar
  timed "import base image" import_base
}

build_target() {
  local target="$1" ref="localhost/cityops-${1}:${TAG}"
  [[ "$target" == cityops ]] && ref="localhost/cityops:${TAG}"
  # Build hosts behind a TLS-inspecting proxy trust its CA in their own bundle: lend that bundle
  # to the RUN steps (pip) as a bind mount, so it never lands in an image layer.
  local ca_args=()
  [[ -f "$HOST_CA" ]] && ca_args=(--volume "${HOST_CA}:/etc/ssl/certs/ca-certificates.crt:ro")
  timed "build ${target}" buildah bud --isolation chroot --layers --force-rm "${ca_args[@]}" \
    --build-arg "BASE_IMAGE=${BASE_REF}" \
    --target "$target" -t "$ref" -f "${ROOT}/Dockerfile" "$ROOT"
  # The proof the issue asks for: the entry point runs inside the built image.
  local ctr
  ctr="$(buildah from "$ref")"
  if timed "run ${target}: cityops --help" buildah run --isolation chroot "$ctr" -- cityops --help >/dev/null; then
    buildah rm "$ctr" >/dev/null
  else
    buildah rm "$ctr" >/dev/null; log "LỖI: cityops --help thất bại trong ${ref}"; return 1
  fi
}

main() {
  local t0=$SECONDS
  ensure_tools
  ensure_base
  if [[ $base_only -eq 0 ]]; then
    for t in "${targets[@]}"; do build_target "$t"; done
  fi
  SUMMARY+=("$(printf '%-34s %5ss' "TỔNG / total" "$((SECONDS - t0))")")
  printf '\n%-34s %6s\n' "bước / step" "thời gian"
  printf '%s\n' "${SUMMARY[@]}"
}

main

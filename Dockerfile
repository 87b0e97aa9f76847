# syntax=docker/dockerfile:1
# CityOps images: one multi-stage, multi-target Dockerfile.
#   build    — sinh mã protobuf (codegen) và đóng wheel cho libs + mọi service
#   runtime  — non-root (uid 10001), rootfs chỉ-đọc được, entry point dạng exec
#   cityops / incidents / dispatch / sensors / notifications / gateway — các target cuối
# Every final target shares the same layers; they differ only in the default command, so
# building all six costs about as much as building one. The Helm chart always passes args.
#
# BASE_IMAGE defaults to the official slim Python. CI points it at a debootstrap rootfs
# (scripts/build_images.sh). Both stages must use the same base: the venv's python symlink
# points at the base interpreter.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Codegen tools only, pinned by requirements.txt (used as constraints).
COPY requirements.txt ./
# Runtime deps are everything above the "# tests and tooling" marker. Cutting them here and copying
# the result keeps the runtime's pip layer cached when only test pins change (cache keys on content).
RUN sed '/^# tests and tooling/,$d' requirements.txt > /runtime-requirements.txt \
 && python3 -m venv /opt/build \
 && /opt/build/bin/pip install -q -c requirements.txt grpcio-tools mypy-protobuf
COPY protos ./protos
COPY scripts/gen_protos.py ./scripts/gen_protos.py
COPY libs ./libs
COPY services ./services
# Codegen writes into libs/src/cityops/<domain>/v1 before the wheel is built, so the
# generated modules ship inside cityops-platform (they are never committed).
RUN /opt/build/bin/python scripts/gen_protos.py \
 && /opt/build/bin/pip wheel -q --no-deps -w /wheels ./libs services/*/

FROM ${BASE_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/cityops/bin:$PATH \
    HOME=/tmp \
    CITYOPS_DATA_DIR=/var/lib/cityops/data \
    CITYOPS_METRICS_PORT=9100
COPY --from=build /runtime-requirements.txt /tmp/runtime-requirements.txt
RUN python3 -m venv /opt/cityops \
 && /opt/cityops/bin/pip install -q -r /tmp/runtime-requirements.txt \
 && rm /tmp/runtime-requirements.txt
COPY --from=build /wheels /tmp/wheels
# --no-deps + pip check: every third-party dependency must come pinned from requirements.txt,
# and the build fails if a package declares one that is missing.
RUN /opt/cityops/bin/pip install -q --no-deps /tmp/wheels/*.whl \
 && /opt/cityops/bin/pip check \
 && rm -rf /tmp/wheels \
 && groupadd --system --gid 10001 cityops \
 && useradd --system --uid 10001 --gid 10001 --no-log-init --home-dir /tmp --shell /usr/sbin/nologin cityops \
 && mkdir -p /var/lib/cityops/data \
 && chown -R 10001:10001 /var/lib/cityops
# Writable paths at run time are /tmp and the Faust data dir; the chart mounts emptyDirs there
# (no VOLUME here: it would hide later changes to those paths and surprise derived images).
USER 10001:10001
WORKDIR /tmp
EXPOSE 9100
ENTRYPOINT ["cityops"]
LABEL org.opencontainers.image.title="cityops"

FROM runtime AS cityops
CMD ["--help"]

FROM runtime AS incidents
EXPOSE 50051
CMD ["serve", "incidents"]

FROM runtime AS dispatch
EXPOSE 50052
CMD ["serve", "dispatch"]

FROM runtime AS sensors
EXPOSE 50053
CMD ["serve", "sensors"]

FROM runtime AS notifications
EXPOSE 50054
CMD ["serve", "notifications"]

FROM runtime AS gateway
EXPOSE 8080
CMD ["serve", "gateway"]

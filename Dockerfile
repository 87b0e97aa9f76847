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
# Build tools only (grpcio-tools, mypy-protobuf, setuptools), hash-checked from their own lock.
COPY requirements-build.lock ./
RUN python3 -m venv /opt/build \
 && /opt/build/bin/pip install -q --require-hashes -r requirements-build.lock
COPY LICENSE ./
COPY protos ./protos
COPY scripts/gen_protos.py ./scripts/gen_protos.py
COPY libs ./libs
COPY services ./services
# Codegen writes into libs/src/cityops/<domain>/v1 before the wheel is built, so the
# generated modules ship inside cityops-platform (they are never committed). The packages'
# LICENSE files are links to /src/LICENSE, so each wheel carries the licence.
RUN /opt/build/bin/python scripts/gen_protos.py \
 && /opt/build/bin/pip wheel -q --no-deps --no-build-isolation -w /wheels ./libs services/*/

FROM ${BASE_IMAGE} AS runtime
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/cityops/bin:$PATH \
    HOME=/tmp \
    CITYOPS_DATA_DIR=/var/lib/cityops/data \
    CITYOPS_METRICS_PORT=9100 \
    CITYOPS_CITIES_DIR=/opt/cityops/cities
# The runtime lock: every third-party package the services need, with hashes, and nothing else
# (no codegen, test or lint tools). Its own layer, so it stays cached while only code changes.
COPY requirements-runtime.lock /tmp/requirements-runtime.lock
RUN python3 -m venv /opt/cityops \
 && /opt/cityops/bin/pip install -q --require-hashes -r /tmp/requirements-runtime.lock \
 && rm /tmp/requirements-runtime.lock
COPY --from=build /wheels /tmp/wheels
# --no-deps + pip check: every third-party dependency must come from the runtime lock, and the
# build fails if a package declares one that is missing. Then pip and setuptools themselves go:
# the runtime stage keeps no installer or build tool.
RUN /opt/cityops/bin/pip install -q --no-deps /tmp/wheels/*.whl \
 && /opt/cityops/bin/pip check \
 && /opt/cityops/bin/pip uninstall -q -y setuptools pip \
 && rm -rf /tmp/wheels \
 && groupadd --system --gid 10001 cityops \
 && useradd --system --uid 10001 --gid 10001 --no-log-init --home-dir /tmp --shell /usr/sbin/nologin cityops \
 && mkdir -p /var/lib/cityops/data \
 && chown -R 10001:10001 /var/lib/cityops
# The cities the image knows (cities/<name>/, docs/cities.md); CITYOPS_CITY picks one. The chart
# may mount another city over /opt/cityops/cities (a ConfigMap or a volume) without a new image.
COPY --chown=0:0 cities /opt/cityops/cities
# Writable paths at run time are /tmp and the Faust data dir; the chart mounts emptyDirs there
# (no VOLUME here: it would hide later changes to those paths and surprise derived images).
USER 10001:10001
WORKDIR /tmp
EXPOSE 9100
ENTRYPOINT ["cityops"]
LABEL org.opencontainers.image.title="cityops" \
      org.opencontainers.image.licenses="Apache-2.0"

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

# netchecker-exporter: drop-in replacement for k8s-netchecker-server.
#   docker build -t netchecker-exporter:0.1.0 .
#   docker run -p 8081:8081 netchecker-exporter:0.1.0 -v=5 -logtostderr -endpoint=0.0.0.0:8081
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# glibc (Debian) base: granian (the HTTP front, Rust) and grpcio/protobuf (upb) install as manylinux
# wheels, so the image needs no compiler; the etcd stubs in store/etcdpb/ are committed, not generated.

# --- build: install the package and its runtime dependencies (from pyproject.toml) into a venv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY netchecker_exporter ./netchecker_exporter
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .

# --- runtime: the venv and the entry script, run by an unprivileged user
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="netchecker-exporter" \
      org.opencontainers.image.description="Network connectivity checker for Kubernetes: a drop-in replacement for k8s-netchecker-server with Prometheus metrics" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="python:3.11-slim-bookworm"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# jemalloc: exporter.py preloads it where installed, so a flood's memory goes back (tuning.py, README).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 netchecker \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin netchecker
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY exporter.py ./
USER 10001:10001
EXPOSE 8081
# Takes the original server's flags (Go flag syntax), e.g. kubespray's
# -v=5 -logtostderr -kubeproxyinit=false -endpoint=0.0.0.0:8081 -etcd-endpoints=http://127.0.0.1:2379
ENTRYPOINT ["python", "exporter.py"]

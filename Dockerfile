# netchecker-exporter: drop-in replacement for k8s-netchecker-server.
#   docker build -t netchecker-exporter:0.1.0 .
#   docker run -p 8081:8081 netchecker-exporter:0.1.0 -v=5 -logtostderr -endpoint=0.0.0.0:8081
# Without a Docker engine or a registry: `make image` (buildah, on a base made from Debian packages;
# docs/image.md) and `make image-test`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# glibc (Debian) base: granian (the HTTP front, Rust) and grpcio/protobuf (upb) install as manylinux
# wheels, so the image needs no compiler; the etcd stubs in store/etcdpb/ are committed, not generated.

# --- build: install the package and its runtime dependencies (from pyproject.toml) into a venv
FROM ${PYTHON_IMAGE} AS build
# How pip reaches its index where the network needs telling (a mirror, a CA bundle, a timeout): unset
# unless given with --build-arg, and ARGs of this stage never reach the runtime image.
ARG PIP_INDEX_URL
ARG PIP_CERT
ARG PIP_DEFAULT_TIMEOUT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY netchecker_exporter ./netchecker_exporter
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install .
# Out of the venv what the server never runs, two fifths of it: kubernetes' asyncio client
# (kubernetes/aio, 68 MB) with aiohttp and what only aiohttp needs (pods/kubernetes.py uses the
# synchronous client; make image-test checks that every other requirement is still installed),
# then pip and setuptools, which only installing needed.
RUN /opt/venv/bin/pip uninstall --yes \
      aiohttp aiohttp-retry aiohappyeyeballs aiosignal attrs frozenlist multidict propcache yarl \
 && /opt/venv/bin/python -c 'import kubernetes, pathlib, shutil; shutil.rmtree(pathlib.Path(kubernetes.__file__).parent / "aio")' \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

# --- runtime: the venv and the entry script, run by an unprivileged user
FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
LABEL org.opencontainers.image.title="netchecker-exporter" \
      org.opencontainers.image.description="Network connectivity checker for Kubernetes: a drop-in replacement for k8s-netchecker-server with Prometheus metrics" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# jemalloc: exporter.py preloads it where installed, so a flood's memory goes back (tuning.py, README).
RUN apt-get update \
 && apt-get install -y --no-install-recommends libjemalloc2 \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log \
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

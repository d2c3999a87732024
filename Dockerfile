# syntax=docker/dockerfile:1
# The operator image: `siptrunk-operator run` and nothing else (no tests, no dev tools).
#
# Every Python package comes from a hash-locked file (pip --require-hashes): requirements/build.lock for
# the build stage (setuptools, wheel), requirements/runtime.lock for the image. `make lock` makes both.
#
# The base image is a tag by default. For a reproducible build, pin it by digest:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> -t siptrunk-operator .
# (`docker buildx imagetools inspect python:3.11-slim` prints the digest.) Both stages use the same
# image, so the virtual environment built in the first runs unchanged in the second.
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY requirements/build.lock requirements/runtime.lock requirements/
# Binary wheels only: nothing is compiled, and every file pip fetches must match a hash in the lock.
# /opt/build holds the build tools; /opt/siptrunk-operator (no pip, no setuptools) is what the image ships,
# filled by the build environment's pip (--python).
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --require-hashes --no-deps --only-binary=:all: -r requirements/build.lock \
    && python -m venv --without-pip /opt/siptrunk-operator \
    && /opt/build/bin/pip --python /opt/siptrunk-operator/bin/python install --require-hashes --no-deps \
        --only-binary=:all: -r requirements/runtime.lock
COPY pyproject.toml README.md ./
COPY operator/siptrunk_operator operator/siptrunk_operator
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /dist . \
    && /opt/build/bin/pip --python /opt/siptrunk-operator/bin/python install --no-deps --no-index \
        /dist/siptrunk_operator-*.whl \
    && /opt/siptrunk-operator/bin/python -m compileall -q /opt/siptrunk-operator

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="siptrunk-operator" \
      org.opencontainers.image.description="Kubernetes operator for Google Dialogflow SIP trunks" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/siptrunk-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY --from=build /opt/siptrunk-operator /opt/siptrunk-operator
RUN groupadd --gid 10001 siptrunk \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin siptrunk
USER 10001:10001
# 8080: /metrics and /readyz (the operator's server); 8081: /healthz (kopf's liveness endpoint).
EXPOSE 8080 8081
ENTRYPOINT ["siptrunk-operator"]
CMD ["run", "--liveness=http://0.0.0.0:8081/healthz"]

# syntax=docker/dockerfile:1.7
#
# sepcheck as a container image: a wheel built in one stage, installed into a virtual
# environment in a slim runtime that runs as a non-root user.
#
#   podman build -t sepcheck .          (or: docker build -t sepcheck .)
#   docker run --rm sepcheck check --as client --manager sepm01.example.test
#
# Options:
#   --build-arg BASE_IMAGE=...          another Python 3.11+ base (a Debian-like image with
#                                       python3, venv and pip; both stages use it)
#   --secret id=pip_cert,src=CA.pem     a CA bundle for a TLS-intercepting proxy in front of
#                                       PyPI (corporate networks); used only while building
#
# Raw mode (--mode raw, trace) needs CAP_NET_RAW. A container's capabilities belong to its
# root user: a non-root user gets them only through file capabilities or ambient ones,
# which Docker and Kubernetes do not set. So raw mode runs as root with only that
# capability added: docker run --user 0 --cap-drop ALL --cap-add NET_RAW sepcheck ...
# (see README, "Scheduled audits"). Connect mode, the default, needs no capability.

ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY sepcheck ./sepcheck
COPY catalogue ./catalogue
COPY probes ./probes
COPY examples ./examples
COPY schema ./schema
# Wheels for sepcheck and everything it needs (all published as binary wheels: no
# compiler is needed, here or later).
RUN --mount=type=secret,id=pip_cert,required=false \
    if [ -s /run/secrets/pip_cert ]; then export PIP_CERT=/run/secrets/pip_cert; fi; \
    python3 -m venv /tmp/buildenv \
    && /tmp/buildenv/bin/pip wheel --no-cache-dir --disable-pip-version-check \
        --wheel-dir /wheels "."

FROM ${BASE_IMAGE} AS runtime
ARG VERSION=0.0.0
LABEL org.opencontainers.image.title="sepcheck" \
      org.opencontainers.image.description="Reachability probe and audit tool for Symantec Endpoint Protection deployments" \
      org.opencontainers.image.source="https://github.com/sepcheck/sepcheck" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV PATH=/opt/sepcheck/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# The wheels come in through a bind mount: they are never part of a layer. pip is removed
# from the environment once it has done its job.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python3 -m venv /opt/sepcheck \
    && /opt/sepcheck/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-index --find-links /wheels "sepcheck" \
    && /opt/sepcheck/bin/pip uninstall --yes --quiet pip \
    && groupadd --system --gid 10001 sepcheck \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin sepcheck \
    && mkdir /reports \
    && chown 10001:10001 /reports
WORKDIR /reports
USER 10001:10001
ENTRYPOINT ["sepcheck"]
CMD ["--help"]

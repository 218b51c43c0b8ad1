# labkit's own services in one image: the gateway, the notification sink, the log shipper
# and the Loki and Jaeger stand-ins. The same code runs in the local and the docker runtime.
#
#   docker build -f docker/labkit.Dockerfile -t labkit/labkit:0.1.0 .
#
# BASE is any image with Python 3.11+ (a mirror of python:3.11-slim-bookworm, or an offline
# base that already holds labkit's dependencies, built with PIP_INSTALL=0: see
# labkit/runtime/docker_build.py, which the tests use with no registry at hand).
ARG BASE=python:3.11-slim-bookworm
FROM ${BASE}
ARG PIP_INSTALL=1

COPY pyproject.toml README.md /opt/labkit/
COPY labkit /opt/labkit/labkit
COPY stack /opt/labkit/stack

# Volumes mounted on these folders start with the image's ownership: writable by any user
# the runtime picks (it runs the gateway as the host user, to share the usage database).
RUN if [ "$PIP_INSTALL" = 1 ]; then python3 -m pip install --no-cache-dir /opt/labkit; fi \
 && mkdir -p /var/log/labkit /var/lib/labkit /var/lib/labkit-sink /var/lib/alloy /loki /badger \
 && chmod 1777 /var/log/labkit /var/lib/labkit /var/lib/labkit-sink /var/lib/alloy /loki /badger

ENV PYTHONPATH=/opt/labkit \
    LABKIT_STACK_DIR=/opt/labkit/stack \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLCONFIGDIR=/tmp/matplotlib \
    HOME=/tmp

# Fail the build, not the lab, when a module cannot be imported.
RUN python3 -c "import labkit.gateway, labkit.standins.sink, labkit.shipper, labkit.standins.loki, labkit.standins.jaeger"

USER 10001
WORKDIR /tmp
LABEL org.opencontainers.image.title="labkit" \
      org.opencontainers.image.description="labkit gateway, sink, shipper and stand-ins"

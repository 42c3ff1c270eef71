# The portal's one image: web (the default command), Celery worker and beat, and migrations, chosen by the
# command (deploy/base). Build from the repository's root: `docker build -t gpu-portal:VERSION .`
# The same Python as the tested virtualenv (3.11.7); the tag is pinned, never `latest`.

FROM python:3.11.7-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
COPY requirements.txt constraints.txt ./
# Wheels first, then a virtualenv from them alone: what the final stage copies is exactly the pinned set.
RUN pip wheel --no-cache-dir --wheel-dir /build/wheels -r requirements.txt -c constraints.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links /build/wheels \
        -r requirements.txt -c constraints.txt \
    && /opt/venv/bin/pip uninstall --yes pip

FROM python:3.11.7-slim-bookworm
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORTAL_DATA_DIR=/app/var
# A fixed uid and gid, so that the manifests' runAsUser and fsGroup name this user.
RUN groupadd --system --gid 10001 portal \
    && useradd --system --uid 10001 --gid portal --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin portal
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
# Owned by root and read-only for the portal user; the pods mount the root filesystem read-only as well.
COPY . .
# Static files at build time, for WhiteNoise to serve; DEBUG only lets settings load without a SECRET_KEY.
# Bytecode too, since PYTHONDONTWRITEBYTECODE and the read-only filesystem keep the pods from writing it.
RUN DEBUG=1 python manage.py collectstatic --no-input \
    && python -m compileall -q accounts chargeback portal provisioning teams
USER 10001:10001
EXPOSE 8000
CMD ["gunicorn", "--config", "python:portal.gunicorn", "portal.wsgi"]

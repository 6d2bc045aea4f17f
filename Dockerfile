# capplan: the planning service (FastAPI + PuLP/HiGHS) with SQLite under /data.
#   docker build -t capplan .
#   docker run -d -p 8000:8000 -v capplan-data:/data capplan
# Settings are CAPPLAN_* environment variables (docs/api.md); the defaults below suit a container.
FROM python:3.11-slim

ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Behind a TLS-intercepting proxy, give pip the proxy's CA (PEM text; used for this step only):
#   docker build --build-arg PIP_CA_CERT="$(cat proxy-ca.pem)" -t capplan .
ARG PIP_CA_CERT=""

# Dependencies in their own layer: it is rebuilt only when pyproject.toml changes.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && if [ -n "$PIP_CA_CERT" ]; then printf '%s\n' "$PIP_CA_CERT" > /tmp/pip-ca.pem; export PIP_CERT=/tmp/pip-ca.pem; fi \
    && pip install -r /tmp/requirements.txt "setuptools>=68" wheel \
    && rm -f /tmp/requirements.txt /tmp/pip-ca.pem

# The code, installed offline (no build isolation) on top of the dependency layer.
COPY README.md ./
COPY solver ./solver
COPY service ./service
COPY examples ./examples
RUN pip install --no-deps --no-build-isolation . \
    && rm -rf build *.egg-info

# An unprivileged user owning only the data volume.
RUN useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin capplan \
    && mkdir -p /data \
    && chown capplan:capplan /data
VOLUME ["/data"]

ENV CAPPLAN_HOST=0.0.0.0 \
    CAPPLAN_PORT=8000 \
    CAPPLAN_DATA_DIR=/data \
    CAPPLAN_DATABASE_URL=sqlite:////data/capplan.db
EXPOSE 8000
USER capplan

# Standard library only: no curl or wget in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CAPPLAN_PORT', '8000'), timeout=4)" || exit 1

CMD ["capplan", "serve"]

# form4-streams worker image: `docker build -t form4-streams .`
#   docker run --rm form4-streams                       -> `form4 worker` (the Faust worker)
#   docker run --rm form4-streams parse /app/samples    -> any other `form4` command
# Configuration is the FORM4_* environment (streams/settings.py); docker-compose.yml sets the deployment values.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Unprivileged user; its home is writable for libraries that want a cache directory.
RUN groupadd --system --gid 10001 form4 \
    && useradd --system --uid 10001 --gid form4 --create-home --home-dir /home/form4 --shell /usr/sbin/nologin form4

WORKDIR /app

# Dependencies first, read from pyproject.toml alone, so editing the code does not reinstall them; pinned by
# constraints.txt to the versions the test suite ran with (regenerate it with `make constraints`).
# Every dependency ships manylinux wheels (lxml, pydantic-core, rocksdict, ...), so no compiler is needed.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -c constraints.txt -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The package itself (dependencies are already there). README.md is the package's readme metadata.
COPY README.md ./
COPY streams/ streams/
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build form4_streams.egg-info

# The bundled real sample filings, for `form4 parse /app/samples` and the compose `demo` profile.
COPY samples/ samples/

# Faust's data directory (RocksDB tables, worker state). Created and chowned before VOLUME: a named volume is
# initialised from this directory, ownership included, so the unprivileged user can write to it.
RUN mkdir -p /data && chown form4:form4 /data
VOLUME ["/data"]

# Container defaults: persistent tables under /data, web server reachable from outside the container.
# Everything else keeps the settings' defaults unless the deployment sets it.
ENV FORM4_DATA_DIR=/data \
    FORM4_STORE=rocksdb:// \
    FORM4_WEB_BIND=0.0.0.0 \
    FORM4_WEB_PORT=6066

USER form4

# Faust's web server: /healthz, /readyz, /metrics and the holdings views; 6067: the EDGAR ingester's /metrics.
EXPOSE 6066

# Liveness: /healthz answers 200 while the worker's event loop runs. No curl in the slim image: python's urllib
# raises (exit status 1) on a refused connection, a timeout or any non-2xx status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FORM4_WEB_PORT', '6066'), timeout=4)"]

ENTRYPOINT ["form4"]
CMD ["worker"]

# Paper Digest: a slim image that runs as a non-root user with its state on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY digest ./digest
COPY templates ./templates
RUN pip install --no-cache-dir . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin digest \
    && mkdir -p /data /config \
    && chown digest:digest /data

USER digest
WORKDIR /data
VOLUME ["/data"]

# Mount your config at /config/config.toml; point [store] path at /data/digest.sqlite3.
ENTRYPOINT ["digest"]
CMD ["run", "--once", "--config", "/config/config.toml"]

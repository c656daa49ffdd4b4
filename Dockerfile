# syntax=docker/dockerfile:1
# Multi-stage: browser assets come from the npm registry in a Node stage; the runtime image has no
# Node, no compilers, and runs as a non-root user. Nothing is fetched at run time (closed networks).

FROM node:20-bookworm-slim AS assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
 && mkdir -p static/vendor \
 && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/ \
 && cp node_modules/@digital-go-jp/design-tokens/dist/tokens.css static/vendor/

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PAPERLESS_ENV=production \
    PAPERLESS_AUTH=msal \
    PAPERLESS_MIGRATE_ON_START=true
WORKDIR /app
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin paperless
COPY pyproject.toml constraints.txt ./
COPY app ./app
# Runtime dependencies only (no dev extra), pinned by constraints.txt; the app itself stays in /app,
# beside its templates, static files, checklists, figure definitions and migrations.
RUN pip install -c constraints.txt -e . && rm -rf /root/.cache
COPY migrations ./migrations
COPY checklists ./checklists
COPY kpis ./kpis
COPY templates ./templates
COPY static ./static
COPY --from=assets /build/static/vendor ./static/vendor
COPY scripts/docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
RUN mkdir -p /app/var && chown paperless:paperless /app/var
USER paperless
VOLUME ["/app/var"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
ENTRYPOINT ["docker-entrypoint.sh"]

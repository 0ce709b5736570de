# The connector as a container: one image for both processes, chosen by the command.
#   docker run -v ./connector.yaml:/app/connector.yaml:ro -v connector-var:/app/var -e ZGW_SECRET ... IMAGE worker
#   docker run ... -p 8080:8080 IMAGE serve --host 0.0.0.0
# Production only: the image holds the wheel (no test doubles' specs, no fixtures, no tests) and the production
# dependencies (no [test] extra, no test doubles or demo: those are doubles/, never in the image); `serve` runs on
# waitress. Configuration: the mounted /app/connector.yaml (CONNECTOR_CONFIG), its secrets as ${ENV} references
# given to the container as environment variables. State: /app/var (store, archive, WARC capture log, media).
# README "Deployment" explains it; tests/test_docker.py lints this file (hadolint) and runs its commands in a fresh
# virtualenv.
FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
COPY setup.cfg setup.py README.md MANIFEST.in ./
COPY connector ./connector
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11.14-slim-bookworm
LABEL org.opencontainers.image.title="midoffice-connector" \
      org.opencontainers.image.description="Government social-media messages as records in case systems" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.licenses="EUPL-1.2" \
      org.opencontainers.image.documentation="README.md, section Deployment"
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CONNECTOR_CONFIG=/app/connector.yaml
WORKDIR /app
COPY --from=build /wheels /wheels
# a fixed numeric uid/gid, so that an orchestrator's runAsNonRoot can verify it and a volume can be prepared for it
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels \
    && groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin connector \
    && mkdir -p /app/var && chown 10001:10001 /app/var
# the rules; the web UI's rule editor saves here, so the connector user owns them
COPY --chown=10001:10001 mappings ./mappings
USER 10001:10001
# the store (var/connector.db), the archive sink's default folder (var/archief), the WARC capture log (var/warc)
# and fetched media (var/media): all beside the store, so one volume shared by `serve` and `worker` holds them;
# and the mapping rules, so that what the rule editor (serve) saves is what the worker runs, across image updates
VOLUME ["/app/var", "/app/mappings"]
EXPOSE 8080
# the store is writable and a worker beat within limits.worker_stale_after (as /readyz); exit 0 or 1
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["connector", "health"]
# exec form: `connector` is PID 1 and gets SIGTERM itself (both commands stop cleanly on it)
STOPSIGNAL SIGTERM
ENTRYPOINT ["connector"]
CMD ["worker"]

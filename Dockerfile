# The connector as a container: `docker run -v $PWD/connector.yaml:/app/connector.yaml ... worker`
# Production only: the image holds the wheel (no test doubles' specs, no fixtures, no tests) and the
# production dependencies (no [test] extra, no test doubles or demo: those are doubles/, never in the image); `serve` runs on waitress.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY setup.cfg setup.py README.md MANIFEST.in ./
COPY connector ./connector
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CONNECTOR_HOME=/app
WORKDIR /app
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels && useradd --create-home connector \
    && mkdir -p /app/var && chown connector /app/var
COPY mappings ./mappings
USER connector
EXPOSE 8080
ENTRYPOINT ["connector"]
CMD ["worker", "--config", "/app/connector.yaml"]

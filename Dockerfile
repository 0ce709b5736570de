# The connector as a container: `docker run -v $PWD/connector.yaml:/app/connector.yaml ... worker`
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CONNECTOR_HOME=/app
WORKDIR /app
COPY setup.cfg setup.py README.md ./
COPY connector ./connector
COPY mappings ./mappings
COPY fixtures ./fixtures
RUN pip install --no-cache-dir -e . && useradd --create-home connector && mkdir -p /app/var \
    && chown connector /app/var
USER connector
EXPOSE 8080
ENTRYPOINT ["connector"]
CMD ["worker", "--config", "/app/connector.yaml"]

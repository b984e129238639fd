# laminar_pg server image. Build: docker build -t laminar-pg .
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY laminar_pg ./laminar_pg
RUN pip install --no-cache-dir .

RUN useradd --create-home --uid 1000 laminar && mkdir -p /data && chown laminar /data
USER laminar
VOLUME /data
EXPOSE 6875 6876

# Inside a container every client arrives from a non-loopback address; without a
# password file the server would refuse them, so --auth trust is set in
# docker-compose.yml explicitly (override with --password-file for anything shared).
ENTRYPOINT ["laminar-pg", "serve", "--host", "0.0.0.0", "--port", "6875", "--data-dir", "/data"]

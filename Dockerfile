# plex-helper in a container: the .pyz built from this source, on python:3.12-slim.
#   docker build -t plex-helper .
# Every setting can come from the environment (PLEX_HELPER_<FIELD>, PLEX_HELPER_<FIELD>_FILE for
# secrets); a config file mounted at /etc/plex-helper/config.json works too. docs/containers.md.

FROM python:3.12-slim AS build
WORKDIR /src
COPY build_zipapp.py requirements.lock ./
COPY packaging/zipapp_main.py packaging/zipapp_boot.py packaging/
COPY domain domain
COPY adapters adapters
COPY application application
# pip download fetches the wheels pinned with their hashes in requirements.lock
RUN python3 build_zipapp.py --dist /dist

FROM python:3.12-slim
# tzdata: the system's zone files, for TZ and the log's local time (the .pyz carries its own for "timezone")
RUN apt-get update \
 && apt-get install -y --no-install-recommends tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /state --no-create-home --shell /usr/sbin/nologin plex-helper \
 && install -d -o plex-helper -g plex-helper -m 700 /state \
 && install -d -m 755 /etc/plex-helper /app \
 && echo '{}' > /etc/plex-helper/config.json
COPY --from=build /dist/plex-helper.pyz /app/plex-helper.pyz

# /state keeps the limits found in the clients (restored after a crash), an override and the history.
# The unpacked .pyz goes to /tmp: losing it costs one slower start.
ENV STATE_DIRECTORY=/state \
    PLEX_HELPER_CACHE_DIR=/tmp/plex-helper \
    PLEX_HELPER_STATUS_LISTEN=127.0.0.1:9911 \
    PYTHONDONTWRITEBYTECODE=1
VOLUME /state
# The dashboard: set PLEX_HELPER_STATUS_LISTEN=0.0.0.0:9911 and a PLEX_HELPER_STATUS_TOKEN to publish it.
EXPOSE 9911
USER plex-helper

# --health asks the daemon's own /health (the image has no curl); it reads only status_listen and status_token
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
  CMD ["python3", "/app/plex-helper.pyz", "--health"]
ENTRYPOINT ["python3", "/app/plex-helper.pyz"]
CMD ["run"]

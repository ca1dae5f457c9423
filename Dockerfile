# authd as a container image: a release build, then a small runtime with the
# binary alone (no shell, no package manager), running as a non-root user.
#
#   docker build -t authd .
#   docker run -e SECRET_KEY=... -p 8000:8000 -v authd-data:/data authd
#
# Configuration is by environment only (see README "Configuration"): no
# config file is read. The defaults below give SQLite and the reset-mail
# outbox in /data, a volume; set DATABASE_URL (and REDIS_URL) for Postgres
# and Redis, as compose.yaml does. tests/deploy_container.rs runs this
# image's entry contract (ENV, ENTRYPOINT, CMD, HEALTHCHECK, USER) without
# Docker, and CI lints this file with hadolint.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
# The registry and target caches stay on the build machine between builds.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin authd \
    && install -D -m 0755 target/release/authd /out/usr/local/bin/authd \
    && install -d -m 0700 /out/data

# glibc, libgcc and CA certificates (for TLS to Postgres, Redis and SMTP);
# `nonroot` is uid/gid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/authd /usr/local/bin/authd
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
# PORT: platforms that choose the port (Railway, Heroku, Cloud Run) set it;
# serve binds 0.0.0.0:$PORT. Logs are JSON lines on stderr for shippers.
ENV PORT=8000 \
    DATABASE_URL=sqlite:///data/authd.db \
    AUTHD_MAIL__OUTBOX_DIR=/data/outbox \
    AUTHD_LOG__FORMAT=json
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/authd", "healthcheck", "--timeout", "3s"]
# SIGTERM drains in-flight requests within http.shutdown_grace (30 s):
# give `docker stop` more than that (compose.yaml's stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/authd"]
CMD ["serve"]

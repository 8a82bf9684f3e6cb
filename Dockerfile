# hookgate container image: a release binary on a distroless base, running as non-root.
#
#   docker build -t hookgate .
#   docker run --rm -p 8080:8080 \
#     -v "$PWD/config/hookgate.toml:/etc/hookgate/hookgate.toml:ro" \
#     -v hookgate-data:/var/lib/hookgate \
#     -e CHAMELIO_SECRET=... hookgate
#
# The admin endpoints (/healthz, /readyz, /metrics, /reload) listen on 127.0.0.1:8079 inside the
# container, where the HEALTHCHECK reaches them; they are not published. To scrape metrics from outside,
# set admin.token (every admin request must then send it) and run with
# `--admin-listen 0.0.0.0:8079 -e HOOKGATE_ADMIN_TOKEN=...`, publishing 8079 on a private interface.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# Cache mounts keep the registry and build artefacts between builds (BuildKit, the default builder).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p hookgate \
    && cp target/release/hookgate /hookgate && strip --strip-debug /hookgate \
    && mkdir -p /data && chown 65532:65532 /data

# distroless/cc: glibc and CA certificates (for https:// upstreams), no shell, runs as uid 65532.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /hookgate /usr/local/bin/hookgate
COPY config/hookgate.toml /etc/hookgate/hookgate.toml
# The embedded store: queued events and delivered ids. Mount a volume here so they outlive the container.
COPY --from=build --chown=65532:65532 /data /var/lib/hookgate
VOLUME /var/lib/hookgate
USER nonroot:nonroot
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
    CMD ["/usr/local/bin/hookgate", "probe", "http://127.0.0.1:8079/readyz"]
ENTRYPOINT ["/usr/local/bin/hookgate"]
CMD ["serve", "--config", "/etc/hookgate/hookgate.toml", "--listen", "0.0.0.0:8080", "--admin-listen", "127.0.0.1:8079", "--data-dir", "/var/lib/hookgate"]

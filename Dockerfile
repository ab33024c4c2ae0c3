# handoff in a container: a multi-stage build into a distroless image, running as non-root.
# Untested here (the build machines have no container runtime); see docs/operator-guide.md,
# "Running as a service". Build: docker build -t handoff .
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p handoff \
 && install -D target/release/handoff /out/usr/local/bin/handoff \
 && install -d -m 0700 /out/var/lib/handoff

# glibc and libgcc only: TLS is rustls, SQLite is compiled in.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/usr/local/bin/handoff /usr/local/bin/handoff
COPY --from=build --chown=65532:65532 /out/var/lib/handoff /var/lib/handoff
USER 65532:65532
# public_url must be set (https, or http on loopback): -e HANDOFF_PUBLIC_URL=https://portal.example.com
ENV HANDOFF_LISTEN=0.0.0.0:8080 \
    HANDOFF_DATA_DIR=/var/lib/handoff \
    HANDOFF_LOG_FORMAT=json
VOLUME /var/lib/handoff
EXPOSE 8080
# No shell or curl in the image: the binary asks its own /healthz.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["/usr/local/bin/handoff", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/handoff"]
CMD ["serve"]

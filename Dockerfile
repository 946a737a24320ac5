# Strom's container image: the static binary and a CA bundle on an empty
# base, nothing else (no shell, no package manager). Build with `make image`,
# which stages the build context in bin/image/ (the binary from `make build`,
# the host's CA bundle and an empty data directory) and runs
# `buildah bud` (or `docker build`) on it. See docs/deploy.md.
FROM scratch

# 65532 is the conventional "nonroot" id of distroless images; nothing in
# the image runs as root.
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY strom /usr/local/bin/strom
COPY --chown=65532:65532 data/ /var/lib/strom/
COPY --chown=65532:65532 data/ /tmp/

# Every config key is also a STROM_* variable (docs/deploy.md lists them);
# these make the image reachable from outside the container. Kubernetes
# (the Helm chart) overrides STROM_ADVERTISE with the pod's stable name.
ENV STROM_DATA_DIR=/var/lib/strom \
    STROM_LISTEN=0.0.0.0:9092 \
    STROM_ADVERTISE=localhost:9092 \
    STROM_ADMIN_ADDRESS=0.0.0.0:9644 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

USER 65532:65532
WORKDIR /var/lib/strom
VOLUME ["/var/lib/strom"]

# 9092 Kafka, 9093 replication ([node.addresses] wal), 9094 metadata Raft
# ([node.addresses] raft), 9644 admin HTTP (/healthz, /readyz, /metrics,
# the console).
EXPOSE 9092 9093 9094 9644

ENTRYPOINT ["/usr/local/bin/strom", "serve"]

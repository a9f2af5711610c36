# poold in a container: `docker build -t poold .`, then
# `docker run -p 127.0.0.1:8080:8080 -v poold-data:/var/lib/poold poold`.
# Configure it with POOLD_* variables (`docker run --rm poold --help` lists them).

FROM debian:bookworm-slim AS build
# The -dev half of script/bootstrap's list; curl there is for the tests only.
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        make gcc libc6-dev pkg-config libmicrohttpd-dev libjansson-dev libcurl4-openssl-dev \
        nettle-dev uthash-dev libsqlite3-dev libhiredis-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what `make` reads, so that editing the README or the tests does not
# rebuild the binary.
COPY Makefile ./
COPY include include
COPY server server
COPY handlers handlers
COPY dashboard dashboard
COPY script/embed-assets.sh script/
COPY examples/plugin examples/plugin
RUN make -j"$(nproc)"

FROM debian:bookworm-slim
# curl is for HEALTHCHECK; ca-certificates lets callbacks reach https URLs;
# python3 runs the functions of `--python FILE` (the warm runtime).
RUN apt-get update -q \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        libmicrohttpd12 libjansson4 libcurl4 libnettle8 libsqlite3-0 libhiredis0.14 curl ca-certificates python3 \
 && rm -rf /var/lib/apt/lists/*
# A fixed uid, so that a host directory mounted as the data dir can be
# chowned to it (`chown 10001:10001 DIR`). A named volume takes the
# directory's owner when it is first mounted, so the directory must exist,
# owned by poold, before VOLUME.
RUN groupadd --system --gid 10001 poold \
 && useradd --system --uid 10001 --gid poold --home-dir /var/lib/poold --shell /usr/sbin/nologin poold \
 && install -d -o poold -g poold -m 750 /var/lib/poold
COPY --from=build /src/build/poold /usr/local/bin/poold
COPY --from=build /src/build/plugins/example.so /usr/local/lib/poold/plugins/example.so
# Where the binary looks for its Python runtime: ../lib/poold/python.
COPY python/poold/*.py /usr/local/lib/poold/python/poold/

# Inside a container the port is reached through Docker's network, never
# through loopback, so poold listens on every address; publish it on the
# host's 127.0.0.1 unless it has an API key.
# POOLD_SHUTDOWN_GRACE stays under `docker stop`'s 10 s, so that poold's own
# stop (running tasks finish, queued jobs stay in the store) ends before
# Docker's SIGKILL; raise it together with `docker stop -t` / stop_grace_period.
ENV POOLD_HOST=0.0.0.0 \
    POOLD_PORT=8080 \
    POOLD_DATA_DIR=/var/lib/poold \
    POOLD_SHUTDOWN_GRACE=8
USER poold
WORKDIR /var/lib/poold
VOLUME /var/lib/poold
EXPOSE 8080
# /readyz, not /healthz: a poold whose workers cannot start serves HTTP but
# cannot run a call. -k: the certificate names the service, not 127.0.0.1.
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD if [ -n "${POOLD_TLS_CERT:-}" ]; then s=https; else s=http; fi; \
        curl -fsSk -o /dev/null "$s://127.0.0.1:${POOLD_PORT:-8080}/readyz" || exit 1
# poold is PID 1 without an init: it takes SIGTERM with sigwait, and its fork
# server reaps the workers' and exec functions' children.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/poold"]

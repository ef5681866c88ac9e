# Multi-stage build of telemetry-server (used by docker-compose.yml). The browser console is
# built with Node.js in its own stage and embedded in the release binary: the image runs
# without Node.js.
FROM node:22-bookworm-slim AS console
WORKDIR /src
COPY openapi ./openapi
COPY ui ./ui
RUN cd ui && npm ci --no-audit --no-fund && npm run build

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
COPY --from=console /src/ui/dist ./ui/dist
RUN cargo build --release --locked --bin telemetry-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 telemetry
COPY --from=build /src/target/release/telemetry-server /usr/local/bin/telemetry-server
USER telemetry
EXPOSE 8080 4317
ENTRYPOINT ["telemetry-server"]
CMD ["serve"]

# Multi-stage build of telemetry-server (used by docker-compose.yml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin telemetry-server

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 telemetry
COPY --from=build /src/target/release/telemetry-server /usr/local/bin/telemetry-server
USER telemetry
EXPOSE 8080
ENTRYPOINT ["telemetry-server"]
CMD ["serve"]

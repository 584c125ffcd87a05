# The one `sanshi` binary, built in release and run as a non-root user on a
# minimal base with no shell. Every service's Deployment runs this image as
# `sanshi serve <service>` (and its migration Job as `sanshi migrate <service>`).
#
#   docker build -t registry.example.cn/sanshi/sanshi:0.1.0 .

FROM rust:1.95-bookworm AS build
WORKDIR /src
# protox compiles the protos in-process: no protoc needed.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p sanshi \
    && cp target/release/sanshi /sanshi

# distroless "cc": glibc and CA certificates, no shell, user 65532 (nonroot).
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /sanshi /usr/local/bin/sanshi
# The region and community data the services embed are compiled in; nothing
# else is read from disk but an optional --config file.
USER 65532:65532
EXPOSE 50051 50052 50053 50054 50055 50056 8080 9464
ENTRYPOINT ["/usr/local/bin/sanshi"]
CMD ["--help"]

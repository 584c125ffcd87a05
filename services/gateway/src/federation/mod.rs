//! Federation with other provinces' platforms (`sanshi.federation.v1`):
//! the gateway serves it on its federation port over TLS with client
//! certificates required, and calls the peers for our dashboards.

pub mod breaker;
pub mod client;
pub mod peers;
pub mod server;
pub mod watch;

use crate::config::FederationConfig;
pub use peers::{Operation, Peer, Peers};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// The federation side of a running gateway.
pub struct Federation {
    pub clients: Arc<client::Clients>,
    /// The federation port, when enabled.
    pub addr: Option<SocketAddr>,
    pub task: Option<tokio::task::JoinHandle<Result<(), tonic::transport::Error>>>,
}

/// Reflection (v1 and v1alpha) for the federation port: the federation
/// contract and what it imports, not the platform's internal services.
fn reflection() -> anyhow::Result<prost_types::FileDescriptorSet> {
    use prost::Message;
    let mut set = prost_types::FileDescriptorSet::decode(sanshi_proto::FILE_DESCRIPTOR_SET)?;
    set.file.retain(|f| {
        let name = f.name();
        name.starts_with("sanshi/federation/") || name.starts_with("google/protobuf/")
    });
    Ok(set)
}

fn read(path: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| anyhow::anyhow!("read {what} {path}: {e}"))
}

/// Loads the peers and, when enabled, starts the federation port (bound on
/// `host`) until `shutdown`.
pub async fn start(
    config: &FederationConfig,
    host: &str,
    identity_url: &str,
    upstreams: crate::api::rpc::Upstreams,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Federation> {
    let policy = client::Policy {
        timeout: Duration::from_millis(config.call_timeout_ms),
        attempts: config.max_attempts,
        breaker_failures: config.breaker_failures,
        breaker_cooldown: Duration::from_millis(config.breaker_cooldown_ms),
    };
    if !config.enabled {
        let clients = client::Clients::new(Arc::new(Peers::default()), None, policy)?;
        return Ok(Federation {
            clients: Arc::new(clients),
            addr: None,
            task: None,
        });
    }
    // Both of rustls' providers are linked (object_store brings aws-lc-rs),
    // so rustls cannot pick one by itself: tonic's is ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let peers = Arc::new(Peers::load(&config.peers)?);
    let cert = read(&config.cert_path, "the federation certificate")?;
    let key = read(&config.key_path, "the federation key")?;
    let identity = Identity::from_pem(&cert, &key);
    let clients = Arc::new(client::Clients::new(peers.clone(), Some(identity.clone()), policy)?);

    // The server's own shutdown, and the watch streams' (which would keep it draining).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let shutdown = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let service = Arc::new(server::Federation {
        peers: peers.clone(),
        platform: config.platform.clone(),
        province_code: config.province_code.clone(),
        upstreams,
        stats: Arc::default(),
        tokens: kit::grpc::service_tokens(identity_url, config.client_id.clone(), config.client_secret.clone())?,
        watch_poll: Duration::from_millis(config.watch_poll_ms),
        watches: Default::default(),
        shutdown: stopped,
    });
    let tls = ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(Certificate::from_pem(peers.bundle()))
        .client_auth_optional(false)
        .timeout(Duration::from_secs(10));
    let addr = format!("{host}:{}", config.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("bind federation port {addr}: {e}"))?;
    let local_addr = listener.local_addr()?;
    let incoming = kit::server::incoming(listener);
    let server = tonic::transport::Server::builder()
        .tls_config(tls)?
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .trace_fn(|request| kit::server::rpc_span("gateway", request))
        .layer(kit::metrics::RedLayer { service: "gateway" })
        .add_service(
            sanshi_proto::federation::v1::federation_service_server::FederationServiceServer::new(server::Service(
                service,
            )),
        )
        .add_service(
            tonic_reflection::server::Builder::configure()
                .register_file_descriptor_set(reflection()?)
                .build_v1()?,
        )
        .add_service(
            tonic_reflection::server::Builder::configure()
                .register_file_descriptor_set(reflection()?)
                .build_v1alpha()?,
        );
    let task = tokio::spawn(server.serve_with_incoming_shutdown(incoming, shutdown));
    tracing::info!(addr = %local_addr, peers = peers.all().len(), "federation port listening");
    Ok(Federation {
        clients,
        addr: Some(local_addr),
        task: Some(task),
    })
}

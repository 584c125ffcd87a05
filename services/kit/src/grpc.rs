//! gRPC clients made through kit: every call carries the caller's trace
//! context (`traceparent`) and, when given, a bearer token.

use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

/// Injects the current span's W3C trace context into each outgoing call.
#[derive(Clone, Copy, Default)]
pub struct TraceInterceptor;

impl tonic::service::Interceptor for TraceInterceptor {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut headers = http::HeaderMap::new();
        crate::telemetry::inject_current(&mut headers);
        for (name, value) in &headers {
            if let Ok(value) = MetadataValue::try_from(value.as_bytes()) {
                request.metadata_mut().insert(
                    tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()).expect("valid header name"),
                    value,
                );
            }
        }
        Ok(request)
    }
}

pub type TracedChannel = InterceptedService<Channel, TraceInterceptor>;

/// A lazily connecting channel to `url` (`http://host:port`) that reconnects
/// by itself and propagates trace context.
pub fn connect_lazy(url: &str) -> anyhow::Result<TracedChannel> {
    let channel = Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .connect_lazy();
    Ok(InterceptedService::new(channel, TraceInterceptor))
}

/// Wraps `message` in a request that carries `token` as its bearer token.
pub fn with_token<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = MetadataValue::try_from(format!("Bearer {token}")) {
        request.metadata_mut().insert("authorization", value);
    }
    request
}

/// Something that yields a bearer token for service-to-service calls.
pub type TokenSource = Arc<dyn Fn() -> BoxFuture<'static, Result<String, tonic::Status>> + Send + Sync>;

/// A fixed token (tests).
pub fn static_token(token: String) -> TokenSource {
    Arc::new(move || {
        let token = token.clone();
        Box::pin(async move { Ok(token) })
    })
}

/// Client-credentials tokens from identity, cached until a minute before expiry.
pub fn service_tokens(identity_url: &str, client_id: String, client_secret: String) -> anyhow::Result<TokenSource> {
    use sanshi_proto::identity::v1::{IssueServiceTokenRequest, auth_service_client::AuthServiceClient};
    let client = AuthServiceClient::new(connect_lazy(identity_url)?);
    let cache: Arc<tokio::sync::Mutex<Option<(String, Instant)>>> = Arc::default();
    Ok(Arc::new(move || {
        let (mut client, cache) = (client.clone(), cache.clone());
        let (client_id, client_secret) = (client_id.clone(), client_secret.clone());
        Box::pin(async move {
            let mut cached = cache.lock().await;
            if let Some((token, valid_until)) = cached.as_ref()
                && Instant::now() < *valid_until
            {
                return Ok(token.clone());
            }
            let response = client
                .issue_service_token(IssueServiceTokenRequest {
                    client_id,
                    client_secret,
                })
                .await?
                .into_inner();
            let lifetime = Duration::from_secs(response.expires_in.max(0) as u64);
            let valid_until = Instant::now() + lifetime.saturating_sub(Duration::from_secs(60));
            *cached = Some((response.access_token.clone(), valid_until));
            Ok(response.access_token)
        })
    }))
}

/// A protobuf timestamp of a UTC time.
pub fn timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

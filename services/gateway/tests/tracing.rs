//! One dashboard request is one trace: the gateway joins the caller's
//! `traceparent`, and identity's RPC span carries the same trace id.

use std::sync::{Arc, Mutex};
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context, SubscriberExt};

/// Records the `trace_id` field of every span.
#[derive(Clone, Default)]
struct TraceIds(Arc<Mutex<Vec<(String, String)>>>);

struct Recorder<'a>(&'a mut Option<String>);

impl Visit for Recorder<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "trace_id" {
            *self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S> Layer<S> for TraceIds
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_record(&self, id: &tracing::span::Id, values: &tracing::span::Record<'_>, ctx: Context<'_, S>) {
        let mut trace_id = None;
        values.record(&mut Recorder(&mut trace_id));
        if let (Some(trace_id), Some(span)) = (trace_id, ctx.span(id)) {
            self.0.lock().unwrap().push((span.name().to_string(), trace_id));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_trace_across_gateway_and_identity() {
    use opentelemetry::trace::TracerProvider as _;
    opentelemetry::global::set_text_map_propagator(opentelemetry_sdk::propagation::TraceContextPropagator::new());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let ids = TraceIds::default();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
        .with(ids.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let db = kit::db::testing::TestDb::sqlite().await;
    let identity = identity::start(identity::testing::config(&db.config.url), std::future::pending())
        .await
        .unwrap();
    let overrides = format!(
        "[server]\nhost = \"127.0.0.1\"\nport = 0\n[telemetry]\nlog_format = \"pretty\"\nlog_level = \"warn\"\n[upstreams]\nidentity_url = \"http://{}\"\n",
        identity.local_addr
    );
    let config: gateway::Config = kit::config::from_toml(gateway::config::DEFAULTS, &overrides).unwrap();
    let gateway = gateway::start(config, std::future::pending()).await.unwrap();

    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/auth/login", gateway.local_addr))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&serde_json::json!({ "username": "yuzhong", "password": identity::testing::PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let seen = ids.0.lock().unwrap().clone();
    assert!(
        seen.contains(&("http".to_string(), trace_id.to_string())),
        "gateway span joined the caller: {seen:?}"
    );
    assert!(
        seen.contains(&("rpc".to_string(), trace_id.to_string())),
        "identity span joined the same trace: {seen:?}"
    );
}

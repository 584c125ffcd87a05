//! Logging and tracing: `tracing` with JSON or pretty logs, OpenTelemetry
//! spans exported over OTLP when an endpoint is configured, and W3C
//! `traceparent` propagation helpers used by every gRPC client and server
//! made through kit.

use crate::config::{LogFormat, TelemetryConfig};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use std::collections::HashMap;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Flushes exported spans when dropped; keep it alive for the process.
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    installed: bool,
}

impl TelemetryGuard {
    /// Whether this call installed the process's subscriber (false for a
    /// second call: spans then go where the first one sends them).
    pub fn installed(&self) -> bool {
        self.installed
    }

    /// Exports the spans ended so far (blocks: call it from a blocking task).
    pub fn flush(&self) -> anyhow::Result<()> {
        self.provider.force_flush()?;
        Ok(())
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber. Spans always get OpenTelemetry trace ids
/// (so logs carry them and `traceparent` propagates); they are exported only
/// when an OTLP endpoint is configured. A second call in the same process
/// (tests) leaves the first subscriber in place.
pub fn init(service_name: &str, config: &TelemetryConfig) -> anyhow::Result<TelemetryGuard> {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service_name.to_string())
        .build();
    let mut builder = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_sampler(SkipLoneQueries);
    if let Some(endpoint) = config.effective_otlp_endpoint() {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()?;
        builder = builder.with_batch_exporter(exporter);
    }
    let provider = builder.build();
    let tracer = provider.tracer("sanshi");

    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))?
        .add_directive(AUDIT.parse()?);
    let (filter, reload) = tracing_subscriber::reload::Layer::new(filter);
    let fmt_layer = match config.log_format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            // Every span in scope with its fields: the outermost carries
            // the trace and span ids (see `record_ids`).
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer().compact().boxed(),
    };
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(tracing_opentelemetry::layer().with_tracer(tracer))
        .try_init();
    if installed.is_ok() {
        let _ = LOG_FILTER.set(reload);
        opentelemetry::global::set_tracer_provider(provider.clone());
    }
    Ok(TelemetryGuard {
        provider,
        installed: installed.is_ok(),
    })
}

type FilterHandle = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

/// The installed subscriber's level filter, replaceable at run time.
static LOG_FILTER: std::sync::OnceLock<FilterHandle> = std::sync::OnceLock::new();

/// The log filter in force (`EnvFilter` syntax, e.g. `info,incentive=debug`).
pub fn log_level() -> Option<String> {
    LOG_FILTER
        .get()
        .and_then(|handle| handle.with_current(|filter| filter.to_string()).ok())
}

/// Audit lines (`target: "sanshi::audit"`) are written whatever the log
/// level says: a quieter log must not silence the audit trail.
pub const AUDIT: &str = "sanshi::audit=info";

/// Replaces the log filter for the whole process (admin port: `PUT
/// /log-level`); a malformed directive changes nothing.
pub fn set_log_level(directives: &str) -> Result<String, String> {
    let filter = EnvFilter::try_new(directives.trim())
        .map_err(|e| format!("invalid log filter: {e}"))?
        .add_directive(AUDIT.parse().map_err(|e| format!("{e}"))?);
    let handle = LOG_FILTER
        .get()
        .ok_or_else(|| "logging is not set up by this process".to_string())?;
    handle.reload(filter).map_err(|e| format!("reload log filter: {e}"))?;
    tracing::warn!(filter = directives.trim(), "log level changed");
    Ok(directives.trim().to_string())
}

/// Every span, except a database call that is not part of any traced work:
/// pollers (the outbox sequencer, consumers' cursors, delivery leases) query
/// several times a second, and those would be most of the traces and none of
/// the interest. A query inside a request, a consumer's event or a delivery
/// is a child span and kept. (sea-orm's `tracing-spans` gives every query a
/// span with `db.system`, `db.operation` and the statement, placeholders not
/// values.)
#[derive(Debug, Clone)]
struct SkipLoneQueries;

impl opentelemetry_sdk::trace::ShouldSample for SkipLoneQueries {
    fn should_sample(
        &self,
        parent: Option<&opentelemetry::Context>,
        trace_id: opentelemetry::trace::TraceId,
        name: &str,
        kind: &opentelemetry::trace::SpanKind,
        attributes: &[opentelemetry::KeyValue],
        links: &[opentelemetry::trace::Link],
    ) -> opentelemetry_sdk::trace::SamplingResult {
        let has_parent = parent.is_some_and(|cx| cx.span().span_context().is_valid());
        if !has_parent && attributes.iter().any(|kv| kv.key.as_str() == "db.system") {
            return opentelemetry_sdk::trace::SamplingResult {
                decision: opentelemetry_sdk::trace::SamplingDecision::Drop,
                attributes: Vec::new(),
                trace_state: Default::default(),
            };
        }
        opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(opentelemetry_sdk::trace::Sampler::AlwaysOn))
            .should_sample(parent, trace_id, name, kind, attributes, links)
    }
}

struct HeaderExtractor<'a>(&'a http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct HeaderInjector<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The remote parent carried by `traceparent`/`tracestate` headers.
pub fn extract_context(headers: &http::HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// Writes the current span's context into outgoing headers.
pub fn inject_current(headers: &mut http::HeaderMap) {
    let cx = tracing::Span::current().context();
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

/// The current span's context as a map (`traceparent`, `tracestate`), for events.
pub fn current_trace_context() -> HashMap<String, String> {
    let cx = tracing::Span::current().context();
    let mut map = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut map);
    map
}

/// The context stored with an event, to parent the span that applies it.
pub fn context_from_map(map: &HashMap<String, String>) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(map)
}

/// Links `span` to the span stored with an event (a batch span applies
/// events of many traces, so it cannot be the child of each).
pub fn link_to(span: &tracing::Span, map: &HashMap<String, String>) {
    let cx = context_from_map(map);
    let linked = cx.span().span_context().clone();
    if linked.is_valid() {
        span.add_link(linked);
    }
}

/// Hex trace id of a span, or empty when it has none.
pub fn trace_id(span: &tracing::Span) -> String {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        sc.trace_id().to_string()
    } else {
        String::new()
    }
}

/// Makes `parent` the parent of `span` and records its trace and span ids
/// on it (fields `trace_id` and `span_id`, which the span must declare), so
/// that JSON log lines written inside it carry them.
pub fn adopt_parent(span: &tracing::Span, parent: opentelemetry::Context) {
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
    record_ids(span);
}

/// Records the span's trace and span ids on it (fields `trace_id` and
/// `span_id`, which the span must declare) for the JSON log lines inside it.
pub fn record_ids(span: &tracing::Span) {
    let cx = span.context();
    let ids = cx.span().span_context().clone();
    if ids.is_valid() {
        span.record("trace_id", ids.trace_id().to_string());
        span.record("span_id", ids.span_id().to_string());
    }
}

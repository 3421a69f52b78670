//! OpenTelemetry traces, exported as `spin up` exports them: only when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, over OTLP/HTTP
//! (`OTEL_EXPORTER_OTLP_PROTOCOL`: `http/protobuf`, the default, or `http/json`), batched
//! (`OTEL_BSP_*`). One server span per HTTP request a component serves — chained calls
//! included — as a child of the request's W3C `traceparent`, and one consumer span per Redis
//! message. Without an endpoint nothing is created: a request pays one atomic load.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::trace::{Span, SpanKind, Status, Tracer, TracerProvider};
use opentelemetry::{KeyValue, global};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;

static ENABLED: AtomicBool = AtomicBool::new(false);
const TRACER: &str = "wasmshop-spin";

/// Keeps the exporter alive; dropping it flushes the spans still batched.
#[must_use]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.provider.take() {
            ENABLED.store(false, Ordering::Relaxed);
            if let Err(e) = provider.shutdown() {
                tracing::warn!("flushing traces: {e}");
            }
        }
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Starts exporting when the environment names an endpoint; `service_name` unless
/// `OTEL_SERVICE_NAME` says otherwise.
pub fn init_from_env(service_name: &str) -> anyhow::Result<Telemetry> {
    if env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .is_none()
    {
        return Ok(Telemetry { provider: None });
    }
    let protocol = match env("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .as_deref()
    {
        None | Some("http/protobuf") => Protocol::HttpBinary,
        Some("http/json") => Protocol::HttpJson,
        Some(other) => anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL={other} is not supported; use http/protobuf or http/json"
        ),
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(protocol)
        .build()
        .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
    let service_name = env("OTEL_SERVICE_NAME").unwrap_or_else(|| service_name.to_owned());
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(Resource::builder().with_service_name(service_name).build())
        .build();
    global::set_text_map_propagator(TraceContextPropagator::new());
    global::set_tracer_provider(provider.clone());
    ENABLED.store(true, Ordering::Relaxed);
    Ok(Telemetry {
        provider: Some(provider),
    })
}

/// An open span; ends when dropped.
pub struct ActiveSpan(global::BoxedSpan);

impl ActiveSpan {
    pub fn set_status_code(&mut self, status: u16) {
        self.0.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        if status >= 500 {
            self.0.set_status(Status::error(format!("status {status}")));
        }
    }

    pub fn set_error(&mut self, message: String) {
        self.0.set_status(Status::error(message));
    }
}

/// The server span of one HTTP request `component` serves on `route`, continuing the trace of
/// the request's `traceparent`; `None` while no exporter is configured.
pub fn http_server_span(
    component: &str,
    method: &str,
    route: &str,
    headers: &http::HeaderMap,
) -> Option<ActiveSpan> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let parent = global::get_text_map_propagator(|propagator| {
        propagator.extract(&opentelemetry_http::HeaderExtractor(headers))
    });
    let tracer = global::tracer_provider().tracer(TRACER);
    let span = tracer
        .span_builder(format!("{method} {route}"))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("spin.component", component.to_owned()),
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("http.route", route.to_owned()),
        ])
        .start_with_context(&tracer, &parent);
    Some(ActiveSpan(span))
}

/// The consumer span of one Redis message on `channel` handled by `component`.
pub fn redis_message_span(component: &str, channel: &str) -> Option<ActiveSpan> {
    if !ENABLED.load(Ordering::Relaxed) {
        return None;
    }
    let tracer = global::tracer_provider().tracer(TRACER);
    let span = tracer
        .span_builder(format!("{channel} receive"))
        .with_kind(SpanKind::Consumer)
        .with_attributes([
            KeyValue::new("spin.component", component.to_owned()),
            KeyValue::new("messaging.system", "redis"),
            KeyValue::new("messaging.destination.name", channel.to_owned()),
        ])
        .start(&tracer);
    Some(ActiveSpan(span))
}

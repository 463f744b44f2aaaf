//! OTLP/gRPC (feature `grpc`) against a real tonic `TraceService` server on 127.0.0.1, in
//! cleartext and over mutual TLS: scripted error statuses, retries, every span exactly once.
#![cfg(feature = "grpc")]

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Code, Status};
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
use tracing_insights_otlp::{CheckOutcome, EnvVars, OtlpLayer};
use tracing_subscriber::prelude::*;

/// What the server saw of one call.
#[derive(Debug, Clone)]
struct Call {
    api_key: Option<String>,
    encoding: Option<String>,
    request: ExportTraceServiceRequest,
}

#[derive(Clone, Default)]
struct Collector {
    calls: Arc<Mutex<Vec<Call>>>,
    /// Statuses answered in turn; OK once they run out.
    script: Arc<Mutex<VecDeque<Code>>>,
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let header = |name: &str| {
            request
                .metadata()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let call = Call {
            api_key: header("x-api-key"),
            encoding: header("grpc-encoding"),
            request: request.get_ref().clone(),
        };
        self.calls.lock().unwrap().push(call);
        match self.script.lock().unwrap().pop_front() {
            Some(code) => Err(Status::new(code, "scripted")),
            None => Ok(tonic::Response::new(ExportTraceServiceResponse::default())),
        }
    }
}

fn fixture(name: &str) -> String {
    format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Serves `collector` on 127.0.0.1 (with TLS that requires a client certificate when
/// `mtls`) from a thread of its own; returns the endpoint URL.
fn serve(collector: Collector, mtls: bool) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            let mut server = Server::builder();
            if mtls {
                // The test server's rustls `ServerConfig::builder()` takes the process-wide
                // provider, and this build has two (ring from tonic's `tls-ring`, aws-lc-rs
                // from reqwest's `rustls`), so rustls cannot pick one by itself. Our client
                // never needs this: it names its provider.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let cert = std::fs::read(fixture("grpc-tls-cert.pem")).unwrap();
                let key = std::fs::read(fixture("grpc-tls-key.pem")).unwrap();
                server = server
                    .tls_config(
                        ServerTlsConfig::new()
                            .identity(Identity::from_pem(&cert, key))
                            .client_ca_root(Certificate::from_pem(&cert)),
                    )
                    .unwrap();
            }
            let svc =
                TraceServiceServer::new(collector).accept_compressed(CompressionEncoding::Gzip);
            server.serve_with_incoming(svc, incoming).await.unwrap();
        });
    });
    let scheme = if mtls { "https" } else { "http" };
    format!("{scheme}://{addr}")
}

/// Ten spans through a layer exporting traces only over gRPC to `url`; their trace ids.
fn export_ten(url: &str, extra: &[(&str, &str)]) -> Vec<Vec<u8>> {
    let mut vars = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), url.to_owned()),
        (
            "OTEL_EXPORTER_OTLP_HEADERS".to_owned(),
            "X-Api-Key=k1".to_owned(),
        ),
        ("OTEL_LOGS_EXPORTER".to_owned(), "none".to_owned()),
        ("OTEL_METRICS_EXPORTER".to_owned(), "none".to_owned()),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars(vars))
        .with_batch_delay(Duration::from_millis(20))
        .with_retries(5, Duration::from_millis(5))
        .build()
        .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let ids = tracing::subscriber::with_default(subscriber, || {
        (0..10)
            .map(|i| {
                let s = tracing::info_span!("tonic-span", i);
                let id = s.trace_id().unwrap().to_bytes().to_vec();
                s.in_scope(|| {});
                id
            })
            .collect()
    });
    guard.shutdown(Duration::from_secs(20)).unwrap();
    ids
}

fn received_trace_ids(calls: &[Call]) -> Vec<Vec<u8>> {
    calls
        .iter()
        .flat_map(|c| &c.request.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|s| s.trace_id.clone())
        .collect()
}

#[test]
fn error_statuses_are_retried_until_a_tonic_server_takes_every_span_once() {
    let collector = Collector::default();
    collector
        .script
        .lock()
        .unwrap()
        .extend([Code::Unavailable, Code::ResourceExhausted]);
    let url = serve(collector.clone(), false);
    let sent = export_ten(&url, &[]);

    let calls = collector.calls.lock().unwrap().clone();
    assert!(
        calls.len() >= 3,
        "two errors, then OK: {} calls",
        calls.len()
    );
    assert!(calls.iter().all(|c| c.api_key.as_deref() == Some("k1")));
    assert!(calls.iter().all(|c| c.encoding.as_deref() == Some("gzip")));
    let accepted = &calls[2..];
    let mut got = received_trace_ids(accepted);
    let mut want = sent;
    got.sort();
    want.sort();
    assert_eq!(got, want, "every span exactly once in the accepted calls");
}

#[test]
fn mutual_tls_with_the_configured_ca_and_client_identity() {
    let collector = Collector::default();
    let url = serve(collector.clone(), true);
    let (cert, key) = (fixture("grpc-tls-cert.pem"), fixture("grpc-tls-key.pem"));
    let sent = export_ten(
        &url,
        &[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", &cert),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", &cert),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", &key),
        ],
    );
    let calls = collector.calls.lock().unwrap().clone();
    assert!(calls.iter().all(|c| c.encoding.is_none()));
    let mut got = received_trace_ids(&calls);
    let mut want = sent;
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn without_the_client_identity_the_tls_server_refuses_and_nothing_arrives() {
    let collector = Collector::default();
    let url = serve(collector.clone(), true);
    let (layer, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url.as_str()),
            (
                "OTEL_EXPORTER_OTLP_CERTIFICATE",
                &fixture("grpc-tls-cert.pem"),
            ),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .build()
        .unwrap();
    drop(layer);
    let report = guard.check();
    assert!(
        matches!(report.results[0].outcome, CheckOutcome::Unreachable(_)),
        "{report}"
    );
    assert!(collector.calls.lock().unwrap().is_empty());
}

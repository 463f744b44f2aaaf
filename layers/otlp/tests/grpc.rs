//! OTLP/gRPC (feature `grpc`) against an in-process HTTP/2 gRPC receiver on 127.0.0.1.
#![cfg(feature = "grpc")]

use bytes::Bytes;
use prost::Message as _;
use std::collections::VecDeque;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
use tracing_insights_otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use tracing_insights_otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use tracing_insights_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracing_insights_otlp::{CheckOutcome, EnvVars, OtlpLayer, Signal};
use tracing_subscriber::prelude::*;

#[derive(Debug, Clone)]
struct Call {
    path: String,
    headers: Vec<(String, String)>,
    message: Vec<u8>,
}

#[derive(Clone)]
struct GrpcReceiver {
    url: String,
    calls: Arc<Mutex<Vec<Call>>>,
    codes: Arc<Mutex<VecDeque<u32>>>,
}

impl GrpcReceiver {
    fn start() -> Self {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", std_listener.local_addr().unwrap());
        let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
        let codes: Arc<Mutex<VecDeque<u32>>> = Arc::default();
        let (c, k) = (calls.clone(), codes.clone());
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let Ok((sock, _)) = listener.accept().await else {
                        return;
                    };
                    let (c, k) = (c.clone(), k.clone());
                    tokio::spawn(async move {
                        let Ok(mut conn) = h2::server::handshake(sock).await else {
                            return;
                        };
                        // Each stream in a task of its own: the connection must keep
                        // being polled for a request's body to arrive.
                        while let Some(Ok((req, respond))) = conn.accept().await {
                            tokio::spawn(answer(req, respond, c.clone(), k.clone()));
                        }
                    });
                }
            });
        });
        Self { url, calls, codes }
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn on(&self, service: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.path.contains(service))
            .collect()
    }
}

/// Records one call and answers it with the next scripted code (OK once they run out).
async fn answer(
    req: tonic::codegen::http::Request<h2::RecvStream>,
    mut respond: h2::server::SendResponse<Bytes>,
    calls: Arc<Mutex<Vec<Call>>>,
    codes: Arc<Mutex<VecDeque<u32>>>,
) {
    let (parts, mut body) = req.into_parts();
    let mut data = Vec::new();
    while let Some(Ok(chunk)) = body.data().await {
        let _ = body.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let mut message = data.get(5..).unwrap_or_default().to_vec();
    if data.first() == Some(&1) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&message[..])
            .read_to_end(&mut out)
            .unwrap();
        message = out;
    }
    calls.lock().unwrap().push(Call {
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        message,
    });
    let code = codes.lock().unwrap().pop_front().unwrap_or(0);
    let resp = tonic::codegen::http::Response::builder()
        .status(200)
        .header("content-type", "application/grpc")
        .body(())
        .unwrap();
    let Ok(mut send) = respond.send_response(resp, false) else {
        return;
    };
    if code == 0 {
        // An empty Export*ServiceResponse, framed.
        let _ = send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
    }
    let mut trailers = tonic::codegen::http::HeaderMap::new();
    trailers.insert("grpc-status", code.to_string().parse().unwrap());
    if code != 0 {
        trailers.insert("grpc-message", "scripted%20failure".parse().unwrap());
    }
    let _ = send.send_trailers(trailers);
}

fn header<'a>(c: &'a Call, name: &str) -> Option<&'a str> {
    c.headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn builder(rx: &GrpcReceiver, extra: &[(&str, &str)]) -> tracing_insights_otlp::OtlpBuilder {
    let mut vars = vec![
        ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), "grpc".to_owned()),
        ("OTEL_EXPORTER_OTLP_ENDPOINT".to_owned(), rx.url.clone()),
    ];
    vars.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    OtlpLayer::builder()
        .with_env(EnvVars::from_vars(vars))
        .with_batch_delay(Duration::from_millis(20))
        .with_retries(3, Duration::from_millis(5))
}

#[test]
fn all_signals_go_over_grpc_with_the_correlation_ids() {
    let rx = GrpcReceiver::start();
    let (layer, guard) = builder(&rx, &[("OTEL_EXPORTER_OTLP_HEADERS", "X-Api-Key=k%20v")])
        .build()
        .unwrap();
    // gRPC endpoints are server addresses: no /v1/<signal>.
    assert_eq!(guard.endpoints()[0], (Signal::Traces, rx.url.clone()));
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    let (trace, span) = tracing::subscriber::with_default(subscriber, || {
        let s = tracing::info_span!("grpc-span", otel.kind = "server");
        let ids = (s.trace_id().unwrap(), s.span_id().unwrap());
        s.in_scope(|| tracing::info!(monotonic_counter.calls = 1_u64, "over grpc"));
        ids
    });
    guard.shutdown(Duration::from_secs(10)).unwrap();

    let t = &rx.on("TraceService/Export")[0];
    assert_eq!(
        t.path,
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
    );
    assert_eq!(header(t, "content-type"), Some("application/grpc"));
    assert_eq!(header(t, "te"), Some("trailers"));
    assert_eq!(header(t, "grpc-encoding"), Some("gzip"));
    assert_eq!(
        header(t, "x-api-key"),
        Some("k v"),
        "lower-cased, percent-decoded"
    );
    let req = ExportTraceServiceRequest::decode(&t.message[..]).unwrap();
    let s = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.trace_id, trace.to_bytes());
    assert_eq!(s.span_id, span.to_bytes());

    let l = &rx.on("LogsService/Export")[0];
    let logs = ExportLogsServiceRequest::decode(&l.message[..]).unwrap();
    let rec = &logs.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(rec.span_id, span.to_bytes());
    let m = &rx.on("MetricsService/Export")[0];
    let metrics = ExportMetricsServiceRequest::decode(&m.message[..]).unwrap();
    assert_eq!(
        metrics.resource_metrics[0].scope_metrics[0].metrics[0].name,
        "calls"
    );
}

#[test]
fn unavailable_is_retried_and_compression_can_be_off() {
    let rx = GrpcReceiver::start();
    rx.codes.lock().unwrap().extend([14, 14]);
    let (layer, guard) = builder(
        &rx,
        &[
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "none"),
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    )
    .build()
    .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info_span!("x").in_scope(|| {}));
    guard.shutdown(Duration::from_secs(10)).unwrap();
    let calls = rx.calls();
    assert_eq!(calls.len(), 3, "two UNAVAILABLE, then OK");
    assert_eq!(header(&calls[0], "grpc-encoding"), None);
}

#[test]
fn non_retryable_codes_are_reported_in_words() {
    let rx = GrpcReceiver::start();
    rx.codes.lock().unwrap().extend([12, 12]);
    let (layer, guard) = builder(
        &rx,
        &[
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ],
    )
    .build()
    .unwrap();
    let report = guard.check();
    let r = report.get(Signal::Traces).unwrap();
    let CheckOutcome::Rejected { words, .. } = &r.outcome else {
        panic!("{report}")
    };
    assert!(
        words.contains("gRPC status 12 UNIMPLEMENTED: scripted failure"),
        "{words}"
    );
    let subscriber = tracing_subscriber::registry()
        .with(correlation::layer())
        .with(layer);
    tracing::subscriber::with_default(subscriber, || tracing::info_span!("x").in_scope(|| {}));
    let err = guard.shutdown(Duration::from_secs(10)).unwrap_err();
    assert!(err.to_string().contains("UNIMPLEMENTED"), "{err}");
    assert_eq!(
        rx.calls().len(),
        2,
        "the check, and one export (not retried)"
    );
}

#[test]
fn grpc_default_endpoint_and_unreachable_server() {
    let (_, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            "grpc",
        )]))
        .build()
        .unwrap();
    assert_eq!(guard.endpoints()[0].1, "http://localhost:4317");
    drop(guard);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (_, guard) = OtlpLayer::builder()
        .with_env(EnvVars::from_vars([
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                &format!("http://127.0.0.1:{port}"),
            ),
            // The others would default to localhost:4317: tests talk to 127.0.0.1 only.
            ("OTEL_LOGS_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .build()
        .unwrap();
    let report = guard.check();
    assert!(
        matches!(report.results[0].outcome, CheckOutcome::Unreachable(_)),
        "{report}"
    );
}

#[test]
fn the_guard_can_be_dropped_inside_a_tokio_runtime() {
    let rx = GrpcReceiver::start();
    let (layer, guard) = builder(&rx, &[]).build().unwrap();
    assert!(guard.check().is_ok());
    drop(layer);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        // check() and drop from async code: no "runtime within a runtime" panic.
        assert!(guard.check().is_ok());
        drop(guard);
    });
}

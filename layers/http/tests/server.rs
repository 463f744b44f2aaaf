//! The server layer on a real axum server on 127.0.0.1: what the SERVER span records.
#![cfg(feature = "axum")]

mod common;

use axum::routing::{get, post};
use axum::Router;
use common::{serve, Capture};
use std::time::Duration;
use tracing_insights_correlation::SpanKind;
use tracing_insights_http::ServerLayer;

const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT: &str = "b7ad6b7169203331";

fn tp() -> String {
    format!("00-{TRACE}-{PARENT}-01")
}

fn app(layer: ServerLayer) -> Router {
    Router::new()
        .route(
            "/search/{id}",
            get(|| async {
                tracing::info_span!("inside").in_scope(|| {});
                "found"
            }),
        )
        .route(
            "/busy",
            get(|| async { (axum::http::StatusCode::SERVICE_UNAVAILABLE, "busy") }),
        )
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "no") }),
        )
        .route(
            "/boom",
            get(|| async {
                if std::hint::black_box(true) {
                    panic!("the handler fell over");
                }
                "unreachable"
            }),
        )
        .layer(layer)
}

#[tokio::test]
async fn continues_the_callers_trace_and_records_the_http_fields() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(app(ServerLayer::new().with_traceresponse(true))).await;
    let response = common::client()
        .get(format!("http://{addr}/search/42?q=secret-query&page=2"))
        .header("traceparent", tp())
        .header("tracestate", "congo=t61rcWkgMzE")
        .header("user-agent", "tests/1.0")
        .header("cookie", "session=secret-cookie")
        .header("authorization", "Bearer secret-token")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let traceresponse = response.headers()["traceresponse"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(response.text().await.unwrap(), "found");

    let server = capture.wait_for(SpanKind::Server, 1).await.remove(0);
    assert_eq!(server.name, "GET /search/{id}");
    assert_eq!(server.ctx.trace_id.to_string(), TRACE);
    assert_eq!(server.ctx.parent_span_id.unwrap().to_string(), PARENT);
    assert!(server.ctx.remote_parent);
    assert!(!server.is_error());
    let expect = [
        ("http.request.method", "GET".to_owned()),
        ("http.route", "/search/{id}".to_owned()),
        ("url.path", "/search/42".to_owned()),
        ("url.query", "q=REDACTED&page=REDACTED".to_owned()),
        ("url.scheme", "http".to_owned()),
        ("server.address", "127.0.0.1".to_owned()),
        ("server.port", addr.port().to_string()),
        ("client.address", "127.0.0.1".to_owned()),
        ("user_agent.original", "tests/1.0".to_owned()),
        ("network.protocol.version", "1.1".to_owned()),
        ("http.response.status_code", "200".to_owned()),
    ];
    for (k, v) in expect {
        assert_eq!(
            server.field(k).as_deref(),
            Some(v.as_str()),
            "{k}: {server:#?}"
        );
    }
    assert_eq!(server.field("error.type"), None);
    for (k, v) in &server.fields {
        let v = v.to_string();
        assert!(
            !v.contains("secret") && !v.contains("Bearer"),
            "{k} leaks a secret: {v}"
        );
    }
    assert_eq!(
        traceresponse,
        format!("00-{TRACE}-{}-01", server.ctx.span_id)
    );
    // Work inside the handler is the SERVER span's child and carries the tracestate on.
    let inside = capture
        .all()
        .into_iter()
        .find(|s| s.name == "inside")
        .unwrap();
    assert_eq!(inside.ctx.parent_span_id, Some(server.ctx.span_id));
    assert_eq!(inside.ctx.trace_id, server.ctx.trace_id);
}

#[tokio::test]
async fn a_malformed_or_oversized_traceparent_starts_a_new_trace() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(app(ServerLayer::new())).await;
    let client = common::client();
    let url = format!("http://{addr}/search/1");
    let bad = [
        vec![format!("00-{}-{PARENT}-01", TRACE.to_uppercase())],
        vec![format!("00-{TRACE}-0000000000000000-01")],
        vec!["garbage".to_owned()],
        vec![format!("cc-{TRACE}-{PARENT}-01-{}", "x".repeat(300))],
        // Two traceparent headers: W3C says neither is valid.
        vec![tp(), tp()],
    ];
    for values in &bad {
        let mut req = client.get(&url).header("tracestate", "congo=t61rcWkgMzE");
        for v in values {
            req = req.header("traceparent", v);
        }
        assert_eq!(req.send().await.unwrap().status(), 200);
    }
    let servers = capture.wait_for(SpanKind::Server, bad.len()).await;
    for s in &servers {
        assert_ne!(s.ctx.trace_id.to_string(), TRACE, "{s:#?}");
        assert_eq!(s.ctx.parent_span_id, None, "{s:#?}");
        assert!(!s.ctx.remote_parent);
    }
}

#[tokio::test]
async fn a_5xx_is_an_error_a_4xx_is_not() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(app(ServerLayer::new())).await;
    let client = common::client();
    for path in ["busy", "missing"] {
        client
            .get(format!("http://{addr}/{path}"))
            .send()
            .await
            .unwrap();
    }
    let servers = capture.wait_for(SpanKind::Server, 2).await;
    let busy = servers.iter().find(|s| s.name == "GET /busy").unwrap();
    assert!(busy.is_error());
    assert_eq!(
        busy.field("http.response.status_code").as_deref(),
        Some("503")
    );
    assert_eq!(busy.field("error.type").as_deref(), Some("503"));
    let missing = servers.iter().find(|s| s.name == "GET /missing").unwrap();
    assert!(!missing.is_error());
    assert_eq!(
        missing.field("http.response.status_code").as_deref(),
        Some("404")
    );
    assert_eq!(missing.field("error.type"), None);
}

#[tokio::test]
async fn a_panicking_handler_is_recorded_and_not_swallowed() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(app(ServerLayer::new())).await;
    let result = common::client()
        .get(format!("http://{addr}/boom"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    // The panic went on to the server, which dropped the connection: no made-up response.
    assert!(result.is_err(), "{result:?}");
    let server = capture.wait_for(SpanKind::Server, 1).await.remove(0);
    assert_eq!(server.name, "GET /boom");
    assert!(server.is_error());
    assert_eq!(server.field("error.type").as_deref(), Some("panic"));
    assert!(
        server.message().unwrap().contains("the handler fell over"),
        "{server:#?}"
    );
    assert_eq!(server.field("http.response.status_code"), None);
}

#[tokio::test]
async fn a_grpc_call_gets_rpc_fields_and_its_status_from_the_trailers() {
    use http_body_util::BodyExt;
    let capture = Capture::default();
    let _guard = capture.install();
    async fn grpc(
        axum::extract::Path(method): axum::extract::Path<String>,
    ) -> axum::response::Response {
        let mut trailers = axum::http::HeaderMap::new();
        let status = if method == "SayHello" { "0" } else { "13" };
        trailers.insert("grpc-status", status.parse().unwrap());
        trailers.insert("grpc-message", "database down".parse().unwrap());
        // One empty length-prefixed message, then the status in the trailers.
        let body = http_body_util::Full::new(bytes::Bytes::from_static(&[0, 0, 0, 0, 0]))
            .with_trailers(async move { Some(Ok(trailers)) });
        axum::response::Response::builder()
            .header("content-type", "application/grpc")
            .body(axum::body::Body::new(body))
            .unwrap()
    }
    let app = Router::new()
        .route("/helloworld.Greeter/{method}", post(grpc))
        .layer(ServerLayer::new());
    let addr = serve(app).await;
    let client = common::client_builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    for method in ["SayHello", "Fail"] {
        let response = client
            .post(format!("http://{addr}/helloworld.Greeter/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("traceparent", tp())
            .body(vec![0u8, 0, 0, 0, 0])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.bytes().await.unwrap();
    }
    let servers = capture.wait_for(SpanKind::Server, 2).await;
    let ok = servers
        .iter()
        .find(|s| s.name == "helloworld.Greeter/SayHello")
        .unwrap();
    assert_eq!(ok.field("rpc.system").as_deref(), Some("grpc"));
    assert_eq!(
        ok.field("rpc.service").as_deref(),
        Some("helloworld.Greeter")
    );
    assert_eq!(ok.field("rpc.method").as_deref(), Some("SayHello"));
    assert_eq!(ok.field("rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(ok.field("network.protocol.version").as_deref(), Some("2"));
    assert_eq!(ok.field("http.request.method"), None);
    assert_eq!(ok.ctx.trace_id.to_string(), TRACE);
    assert!(!ok.is_error());
    let failed = servers
        .iter()
        .find(|s| s.name == "helloworld.Greeter/Fail")
        .unwrap();
    assert_eq!(failed.field("rpc.grpc.status_code").as_deref(), Some("13"));
    assert_eq!(failed.field("error.type").as_deref(), Some("13"));
    assert_eq!(failed.message().as_deref(), Some("database down"));
}

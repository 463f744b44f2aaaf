//! CLIENT spans from the reqwest middleware and the tower client layer, against real axum
//! servers (with the server layer) on 127.0.0.1.
#![cfg(all(feature = "axum", feature = "reqwest"))]

mod common;

use axum::routing::get;
use axum::Router;
use common::{closed_port, serve, Capture};
use std::time::Duration;
use tracing_insights_correlation::SpanKind;
use tracing_insights_http::{ClientLayer, ServerLayer, TracingMiddleware, UrlTemplate};

fn back() -> Router {
    Router::new()
        .route("/search", get(|| async { "results" }))
        .route(
            "/fail",
            get(|| async { (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "down") }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .layer(ServerLayer::new())
}

fn client() -> reqwest_middleware::ClientWithMiddleware {
    reqwest_middleware::ClientBuilder::new(common::client())
        .with(TracingMiddleware::new())
        .build()
}

#[tokio::test]
async fn the_callee_is_a_child_of_the_client_span_inside_the_callers_span() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(back()).await;
    let port = addr.port();
    let parent = tracing::info_span!("caller");
    let body = async {
        client()
            .get(format!(
                "http://user:hunter2@127.0.0.1:{port}/search?q=secret-query&k"
            ))
            .with_extension(UrlTemplate::new("/search"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let body = tracing::Instrument::instrument(body, parent.clone()).await;
    assert_eq!(body, "results");
    let client_span = capture.wait_for(SpanKind::Client, 1).await.remove(0);
    let server_span = capture.wait_for(SpanKind::Server, 1).await.remove(0);
    drop(parent);
    let caller = capture
        .all()
        .into_iter()
        .find(|s| s.name == "caller")
        .unwrap();

    assert_eq!(client_span.name, "GET /search");
    assert_eq!(client_span.ctx.parent_span_id, Some(caller.ctx.span_id));
    assert_eq!(
        server_span.ctx.parent_span_id,
        Some(client_span.ctx.span_id)
    );
    assert_eq!(server_span.ctx.trace_id, caller.ctx.trace_id);
    assert_eq!(client_span.ctx.trace_id, caller.ctx.trace_id);
    let expect = [
        ("http.request.method", "GET".to_owned()),
        // reqwest moves the URL's credentials into an Authorization header before the
        // middleware runs; neither reaches a field.
        (
            "url.full",
            format!("http://127.0.0.1:{port}/search?q=REDACTED&k"),
        ),
        ("url.scheme", "http".to_owned()),
        ("url.template", "/search".to_owned()),
        ("server.address", "127.0.0.1".to_owned()),
        ("server.port", port.to_string()),
        ("http.response.status_code", "200".to_owned()),
    ];
    for (k, v) in expect {
        assert_eq!(client_span.field(k).as_deref(), Some(v.as_str()), "{k}");
    }
    assert!(!client_span.is_error());
    for (k, v) in client_span.fields.iter().chain(&server_span.fields) {
        let v = v.to_string();
        assert!(!v.contains("hunter2") && !v.contains("secret"), "{k}: {v}");
    }
}

#[tokio::test]
async fn a_5xx_answer_marks_the_client_span_as_an_error() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(back()).await;
    let response = client()
        .get(format!("http://{addr}/fail"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let span = capture.wait_for(SpanKind::Client, 1).await.remove(0);
    assert_eq!(span.name, "GET");
    assert!(span.is_error());
    assert_eq!(span.field("error.type").as_deref(), Some("500"));
    assert_eq!(
        span.field("http.response.status_code").as_deref(),
        Some("500")
    );
}

#[tokio::test]
async fn a_timeout_is_recorded_on_the_client_span() {
    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(back()).await;
    let result = client()
        .get(format!("http://{addr}/slow"))
        .timeout(Duration::from_millis(200))
        .send()
        .await;
    assert!(result.is_err());
    let span = capture.wait_for(SpanKind::Client, 1).await.remove(0);
    assert!(span.is_error(), "{span:#?}");
    assert_eq!(span.field("error.type").as_deref(), Some("timeout"));
    assert_eq!(span.field("http.response.status_code"), None);
}

#[tokio::test]
async fn a_refused_connection_is_recorded_on_the_client_span() {
    let capture = Capture::default();
    let _guard = capture.install();
    let port = closed_port();
    let result = client()
        .get(format!("http://127.0.0.1:{port}/search?token=abc"))
        .send()
        .await;
    assert!(result.is_err());
    let span = capture.wait_for(SpanKind::Client, 1).await.remove(0);
    assert!(span.is_error());
    assert_eq!(span.field("error.type").as_deref(), Some("connect"));
    let message = span.message().unwrap();
    assert!(
        message.to_lowercase().contains("refused"),
        "status message: {message}"
    );
    assert!(!message.contains("abc"), "the URL leaked: {message}");
    assert_eq!(
        span.field("server.port").as_deref(),
        Some(&*port.to_string())
    );
}

/// The tower layer around hyper-util's client: same parentage, same fields.
#[tokio::test]
async fn the_tower_client_layer_propagates_and_records() {
    use http_body_util::{BodyExt, Empty};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;
    use tower_service::Service;

    let capture = Capture::default();
    let _guard = capture.install();
    let addr = serve(back()).await;
    let hyper: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut client = tower_layer::Layer::layer(&ClientLayer::new(), hyper);
    let parent = tracing::info_span!("caller");
    let request = http::Request::get(format!("http://{addr}/search?q=1"))
        .body(Empty::new())
        .unwrap();
    let response = tracing::Instrument::instrument(client.call(request), parent.clone())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    let client_span = capture.wait_for(SpanKind::Client, 1).await.remove(0);
    let server_span = capture.wait_for(SpanKind::Server, 1).await.remove(0);
    assert_eq!(
        server_span.ctx.parent_span_id,
        Some(client_span.ctx.span_id)
    );
    assert_eq!(
        client_span.field("url.full"),
        Some(format!("http://{addr}/search?q=REDACTED"))
    );
    assert_eq!(
        client_span.field("server.port"),
        Some(addr.port().to_string())
    );
    assert_eq!(
        client_span.field("http.response.status_code").as_deref(),
        Some("200")
    );

    // A refused connection through hyper: recorded with the client's error type.
    let request = http::Request::get(format!("http://127.0.0.1:{}/", closed_port()))
        .body(Empty::new())
        .unwrap();
    assert!(client.call(request).await.is_err());
    let spans = capture.wait_for(SpanKind::Client, 2).await;
    let failed = &spans[1];
    assert!(failed.is_error());
    assert!(
        failed.field("error.type").unwrap().contains("hyper_util"),
        "{failed:#?}"
    );

    // Credentials in the URI never reach a field, whatever the client makes of them.
    let request = http::Request::get(format!("http://user:hunter2@{addr}/search?token=abc"))
        .body(Empty::new())
        .unwrap();
    let _ = client.call(request).await;
    let spans = capture.wait_for(SpanKind::Client, 3).await;
    assert_eq!(
        spans[2].field("url.full"),
        Some(format!(
            "http://REDACTED:REDACTED@{addr}/search?token=REDACTED"
        ))
    );
}

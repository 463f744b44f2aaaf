//! The server layer on a plain hyper-util server (no axum) on 127.0.0.1: the service error
//! path, and the fields that need no router.

mod common;

use bytes::Bytes;
use common::Capture;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::{ready, Ready};
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;
use tracing_insights_correlation::SpanKind;
use tracing_insights_http::ServerLayer;

/// An application that fails `/err` with its own error type.
#[derive(Clone)]
struct App;

impl Service<Request<Incoming>> for App {
    type Response = Response<Full<Bytes>>;
    type Error = std::io::Error;
    type Future = Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Incoming>) -> Self::Future {
        ready(if req.uri().path() == "/err" {
            Err(std::io::Error::other("backend exploded"))
        } else {
            Ok(Response::new(Full::new(Bytes::from_static(b"ok"))))
        })
    }
}

#[tokio::test]
async fn a_service_error_is_recorded_and_returned() {
    let capture = Capture::default();
    let _guard = capture.install();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = TowerToHyperService::new(ServerLayer::new().layer(App));
            tokio::spawn(async move {
                // The service error ends the connection: hyper got it, not a made-up answer.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = common::client();
    let ok = client
        .get(format!("http://{addr}/items/7?x=1"))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "ok");
    assert!(client
        .get(format!("http://{addr}/err"))
        .send()
        .await
        .is_err());

    let spans = capture.wait_for(SpanKind::Server, 2).await;
    let ok = spans
        .iter()
        .find(|s| s.field("url.path").as_deref() == Some("/items/7"))
        .unwrap();
    // No router: the name is the method alone, never the path with its id.
    assert_eq!(ok.name, "GET");
    assert_eq!(ok.field("http.route"), None);
    assert_eq!(ok.field("url.query").as_deref(), Some("x=REDACTED"));
    assert_eq!(ok.field("server.port"), Some(addr.port().to_string()));
    assert_eq!(
        ok.ctx.trace_id.to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    let err = spans
        .iter()
        .find(|s| s.field("url.path").as_deref() == Some("/err"))
        .unwrap();
    assert!(err.is_error());
    assert_eq!(
        err.field("error.type").as_deref(),
        Some("std::io::error::Error")
    );
    assert_eq!(err.message().as_deref(), Some("backend exploded"));
    assert_eq!(err.field("http.response.status_code"), None);
}

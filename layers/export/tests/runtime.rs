//! The HTTP client's runtime never meets the application's: an exporter built, used and
//! dropped inside a tokio runtime (current-thread and multi-thread) delivers and does not
//! panic, and a transport called or dropped inside a runtime works too.

mod common;

use common::Server;
use std::time::Duration;
use tracing_insights_export::transport::{Method, Request};
use tracing_insights_export::{http_transport, Body, ExportBuilder, HttpOptions, OfflineStorage};

fn post(t: &mut dyn tracing_insights_export::Transport, url: &str) -> Result<u16, String> {
    let body = Body {
        bytes: b"[\"x\"]".to_vec(),
        content_type: "application/json",
        content_encoding: None,
        leading: 0,
    };
    t.send(&Request {
        method: Method::Post,
        url,
        headers: &[],
        authorization: None,
        body: &body,
        timeout: Some(Duration::from_secs(5)),
    })
    .map(|r| r.status)
}

fn export_two(server: &Server) {
    let (exp, guard) = ExportBuilder::new("in-runtime", server.url.clone())
        .with_gzip(false)
        .with_offline_storage(OfflineStorage::Disabled)
        .spawn()
        .unwrap();
    assert!(exp.try_send(b"\"a\"".to_vec()));
    assert!(exp.try_send(b"\"b\"".to_vec()));
    guard.flush(Duration::from_secs(10)).unwrap();
    drop(exp);
    drop(guard);
}

#[tokio::test(flavor = "current_thread")]
async fn an_exporter_inside_a_current_thread_runtime_delivers_and_drops_cleanly() {
    let server = Server::start();
    export_two(&server);
    assert_eq!(server.delivered(), ["a", "b"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exporter_inside_a_multi_thread_runtime_delivers_and_drops_cleanly() {
    let server = Server::start();
    export_two(&server);
    assert_eq!(server.delivered(), ["a", "b"]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_transport_called_and_dropped_inside_a_runtime_answers() {
    let server = Server::start();
    let mut t = http_transport(&HttpOptions::default()).unwrap();
    assert_eq!(post(t.as_mut(), &server.url), Ok(200));
    assert_eq!(post(t.as_mut(), &server.url), Ok(200));
    drop(t);
    assert_eq!(server.delivered(), ["x", "x"]);
}

#[test]
fn a_transport_used_outside_and_dropped_inside_a_runtime_does_not_panic() {
    let server = Server::start();
    let mut t = http_transport(&HttpOptions::default()).unwrap();
    assert_eq!(post(t.as_mut(), &server.url), Ok(200));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async move { drop(t) });
    assert_eq!(server.delivered(), ["x"]);
}

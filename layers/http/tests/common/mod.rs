//! What the tests share: a layer that keeps every closed span's correlation record, and
//! loopback servers.
#![allow(dead_code, unreachable_pub)]

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing_insights_correlation::{self as correlation, FieldValue, SpanContext, SpanData};
use tracing_insights_correlation::{SpanKind, SpanStatus};
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

/// A closed span as the correlation layer recorded it (what every exporter reads).
#[derive(Clone, Debug)]
pub struct Closed {
    pub name: String,
    pub kind: SpanKind,
    pub status: SpanStatus,
    pub ctx: SpanContext,
    pub fields: Vec<(&'static str, FieldValue)>,
}

impl Closed {
    pub fn field(&self, name: &str) -> Option<String> {
        self.fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    }
    pub fn is_error(&self) -> bool {
        matches!(self.status, SpanStatus::Error { .. })
    }
    pub fn message(&self) -> Option<String> {
        match &self.status {
            SpanStatus::Error { message } => message.clone(),
            _ => None,
        }
    }
}

#[derive(Clone, Default)]
pub struct Capture(Arc<Mutex<Vec<Closed>>>);

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let ext = span.extensions();
        let Some(data) = ext.get::<SpanData>() else {
            return;
        };
        let closed = Closed {
            name: data.name().to_owned(),
            kind: data.kind(),
            status: data.status(),
            ctx: data.context(),
            fields: data.record().fields().to_vec(),
        };
        drop(ext);
        self.0.lock().unwrap().push(closed);
    }
}

impl Capture {
    /// Installs `registry + correlation + self` as this thread's default subscriber.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry()
            .with(correlation::layer())
            .with(self.clone());
        tracing::subscriber::set_default(subscriber)
    }

    /// Waits (up to 10 s) until `n` spans of `kind` have closed and returns them.
    pub async fn wait_for(&self, kind: SpanKind, n: usize) -> Vec<Closed> {
        for _ in 0..1000 {
            let spans: Vec<Closed> = self
                .0
                .lock()
                .unwrap()
                .iter()
                .filter(|s| s.kind == kind)
                .cloned()
                .collect();
            if spans.len() >= n {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!(
            "fewer than {n} {kind:?} spans closed: {:#?}",
            self.0.lock().unwrap()
        );
    }

    pub fn all(&self) -> Vec<Closed> {
        self.0.lock().unwrap().clone()
    }
}

/// Serves `app` on 127.0.0.1:0 (with the peer address as `ConnectInfo`); returns its address.
pub async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

/// A port on 127.0.0.1 where nothing listens (bound, then closed).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// A `reqwest` client builder. The workspace's unified features can select reqwest's
/// `rustls-no-provider` (the facade's example picks rustls with ring), so a provider is
/// installed first; the tests themselves only speak plain HTTP on loopback.
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// A default `reqwest` client (see [`client_builder`]).
pub fn client() -> reqwest::Client {
    client_builder().build().unwrap()
}

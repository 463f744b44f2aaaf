//! A fake QuickPulse service for the wire tests, on the shared loopback server of
//! `tracing-insights-testing`: it always subscribes, and hands every request it got to the
//! test through a channel. Only 127.0.0.1.

#![allow(dead_code)] // each test file uses part of it

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex};
use tracing_insights_testing::http::{LoopbackServer, Reply, Request};

/// Where the service answers, and the requests it got, in order.
pub(crate) struct FakeQuickPulse {
    /// Its port on 127.0.0.1.
    pub(crate) port: u16,
    /// Every request (path with query, headers, body), as it arrived.
    pub(crate) calls: mpsc::Receiver<Request>,
    _server: LoopbackServer,
}

impl FakeQuickPulse {
    /// A service that subscribes every client.
    pub(crate) fn start() -> Self {
        Self::with_redirect(None)
    }

    /// Also offers `redirect` (`x-ms-qps-service-endpoint-redirect-v2`) in its first answer.
    pub(crate) fn with_redirect(redirect: Option<&'static str>) -> Self {
        let (tx, calls) = mpsc::channel();
        let tx = Mutex::new(tx);
        let offered = AtomicBool::new(redirect.is_none());
        let server = LoopbackServer::start(move |req| {
            let _ = tx
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .send(req.clone());
            let reply = Reply::status(200)
                .header("x-ms-qps-subscribed", "true")
                .header("x-ms-qps-configuration-etag", "");
            match redirect {
                Some(to) if !offered.swap(true, Ordering::SeqCst) => {
                    reply.header("x-ms-qps-service-endpoint-redirect-v2", to)
                }
                _ => reply,
            }
        });
        Self {
            port: server.port,
            calls,
            _server: server,
        }
    }

    /// The connection string that points Live Metrics here.
    pub(crate) fn connection_string(&self) -> String {
        format!(
            "InstrumentationKey=00000000-0000-0000-0000-000000000000;LiveEndpoint=http://127.0.0.1:{}",
            self.port
        )
    }

    /// Whether `call` is a post (`/QuickPulseService.svc/post`), not a ping.
    pub(crate) fn is_post(call: &Request) -> bool {
        call.path.starts_with("/QuickPulseService.svc/post")
    }
}

impl FakeQuickPulse {
    /// The first element of the next post's body (the monitoring data point), skipping
    /// pings; `None` when nothing arrives for `wait`.
    pub(crate) fn next_post(&self, wait: std::time::Duration) -> Option<serde_json::Value> {
        loop {
            let call = self.calls.recv_timeout(wait).ok()?;
            if Self::is_post(&call) {
                let body: serde_json::Value = serde_json::from_slice(&call.body).ok()?;
                return Some(body[0].clone());
            }
        }
    }
}

/// The value of metric `name` in a data point (0 when the point does not carry it); the point
/// must have its `Metrics` list.
pub(crate) fn metric(p: &serde_json::Value, name: &str) -> f64 {
    p["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Name"] == name)
        .and_then(|m| m["Value"].as_f64())
        .unwrap_or(0.0)
}

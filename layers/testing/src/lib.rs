//! Test helpers shared by the tracing-insights crates: a capturing `MakeWriter` and
//! loopback HTTP receivers ([`http::LoopbackServer`], scripted or answered by a closure,
//! and [`loopback_receiver`], which takes everything).

pub mod http;

use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use tracing_subscriber::fmt::MakeWriter;

/// A `MakeWriter` that keeps everything written, for asserting on log lines.
#[derive(Debug, Clone, Default)]
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl CaptureWriter {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(PoisonError::into_inner)).into_owned()
    }

    /// Every line written so far parsed as JSON (panics on a line that is not JSON: tests only).
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.contents()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
}

impl io::Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CaptureWriter {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// One HTTP request a [`loopback_receiver`] got.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request path, e.g. `/v2.1/track`.
    pub path: String,
    /// Header lines, lower-cased (`content-encoding: gzip`).
    pub headers: Vec<String>,
    /// The body, gunzipped when it was sent with `Content-Encoding: gzip`.
    pub body: Vec<u8>,
}

/// Everything a [`loopback_receiver`] got, in arrival order.
pub type Captured = Arc<Mutex<Vec<Received>>>;

/// A loopback HTTP/1.1 endpoint on `127.0.0.1:0` that records every request and answers
/// `200` with an empty body (keep-alive). Returns its port and what it captured. Tests only:
/// it panics on malformed input.
pub fn loopback_receiver() -> (u16, Captured) {
    let captured: Captured = Arc::default();
    let c = captured.clone();
    let server = http::LoopbackServer::start(move |r| {
        c.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Received {
                path: r.path.clone(),
                headers: r
                    .headers
                    .iter()
                    .map(|(k, v)| format!("{k}: {v}").to_ascii_lowercase())
                    .collect(),
                body: r.body.clone(),
            });
        http::Reply::status(200)
    });
    (server.port, captured)
}

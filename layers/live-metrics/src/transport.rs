//! The HTTP side of the control loop, behind a trait so tests can play the service.

// Items re-exported by the `testing` module are `pub`; without that feature only the
// crate reaches them, and the accessors only the tests call are unused.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use std::fmt;
use std::time::Duration;
use tracing_insights_export as export;

/// Which QuickPulse call a request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `POST {base}/QuickPulseService.svc/ping`: "is anybody watching?"
    Ping,
    /// `POST {base}/QuickPulseService.svc/post`: one second of data.
    Post,
}

/// One request to the QuickPulse service.
#[derive(Clone)]
pub struct QpsRequest {
    /// Ping or post.
    pub kind: CallKind,
    /// The full URL, including `?api-version=...&ikey=...` (the key is a secret: not in `Debug`).
    pub url: String,
    /// Header names (lower-case) and values, in the order they are sent.
    pub headers: Vec<(String, String)>,
    /// The JSON body.
    pub body: Vec<u8>,
}

impl QpsRequest {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

impl fmt::Debug for QpsRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL carries the instrumentation key and headers may carry a bearer token.
        let base = self.url.split('?').next().unwrap_or_default();
        f.debug_struct("QpsRequest")
            .field("kind", &self.kind)
            .field("url", &format_args!("{base}?<redacted>"))
            .field("body_len", &self.body.len())
            .finish_non_exhaustive()
    }
}

/// The service's answer.
#[derive(Debug, Clone, Default)]
pub struct QpsResponse {
    /// HTTP status.
    pub status: u16,
    /// Header names (any case) and values.
    pub headers: Vec<(String, String)>,
    /// The body (a `CollectionConfigurationInfo` JSON, or empty).
    pub body: Vec<u8>,
}

impl QpsResponse {
    /// The value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sends QuickPulse requests. The layer's worker uses [`HttpTransport`]; tests give their
/// own to play the service's side of the conversation without a socket.
pub trait Transport: Send + 'static {
    /// Sends one request; `Err` is a transport failure (connection refused, timeout, ...)
    /// described in words.
    fn send(&mut self, request: &QpsRequest) -> Result<QpsResponse, String>;
}

/// [`Transport`] over the export crate's HTTP client (the one every exporter uses: reqwest
/// or ureq, by feature): no redirects followed (the service's redirect header is handled by
/// the control loop), HTTP error statuses returned, not raised.
pub struct HttpTransport {
    http: Box<dyn export::Transport>,
    timeout: Duration,
}

impl fmt::Debug for HttpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpTransport")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl HttpTransport {
    /// A client whose every call gives up after `timeout`. Nothing is started until the
    /// first call, on the thread that makes it (the layer's worker).
    pub fn new(timeout: Duration) -> Self {
        Self {
            http: export::transport::http_transport_or_reason(&export::HttpOptions::default()),
            timeout,
        }
    }
}

impl Transport for HttpTransport {
    fn send(&mut self, request: &QpsRequest) -> Result<QpsResponse, String> {
        let body = export::Body {
            bytes: request.body.clone(),
            content_type: "application/json",
            content_encoding: None,
            leading: 0,
        };
        // The content type travels as the body's; every other header as given.
        let headers: Vec<(String, String)> = request
            .headers
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("content-type"))
            .cloned()
            .collect();
        let response = self.http.send(&export::transport::Request {
            method: export::Method::Post,
            url: &request.url,
            headers: &headers,
            authorization: None,
            body: &body,
            timeout: Some(self.timeout),
        })?;
        Ok(QpsResponse {
            status: response.status,
            headers: response.headers,
            body: response.body,
        })
    }
}

//! What carries a request to the service: the [`Transport`] trait and the HTTP client behind
//! it, chosen by the crate's features: `ReqwestTransport` (feature `reqwest`, the default)
//! or `UreqTransport` (feature `ureq`, the lean option); with both, reqwest.
//!
//! Every exporter of the workspace goes through this one trait: the export pipelines (App
//! Insights, OTLP over HTTP), Live Metrics' pings and posts, and managed-identity token
//! requests. TLS settings ([`HttpOptions`]) are PEM bytes, so they mean the same to both
//! clients and the TLS backends (features `rustls`, the default, `rustls-ring` and `native-tls`).

use crate::encode::Body;
use std::fmt;
use std::time::Duration;

pub mod pem;
#[cfg(feature = "reqwest")]
mod reqwest;
#[cfg(all(
    feature = "reqwest",
    feature = "rustls-ring",
    not(feature = "native-tls")
))]
mod rustls;
#[cfg(feature = "ureq")]
mod ureq;

#[cfg(feature = "reqwest")]
pub use self::reqwest::ReqwestTransport;
#[cfg(feature = "ureq")]
pub use self::ureq::UreqTransport;

/// Answer bodies are read at most this far.
pub const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Shows a header list by names only (`Debug`): values are often secrets (API keys).
pub struct HeaderNames<'a>(pub &'a [(String, String)]);

impl fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k.as_str()))
            .finish()
    }
}

/// The HTTP method of a [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// `POST` with the request's body (every export, Live Metrics).
    #[default]
    Post,
    /// `GET`: the body is not sent (managed-identity tokens).
    Get,
}

/// One request as the worker hands it to a transport.
#[derive(Debug)]
pub struct Request<'a> {
    /// `POST` (exports) or `GET`.
    pub method: Method,
    /// Where to send it (redirects already applied).
    pub url: &'a str,
    /// Headers of the pipeline (their values may be secrets: never log them).
    pub headers: &'a [(String, String)],
    /// The `Authorization` value from the pipeline's [`RequestAuth`](crate::RequestAuth).
    pub authorization: Option<&'a str>,
    /// The body and its content headers (not sent with `GET`).
    pub body: &'a Body,
    /// The longest the request may take (`None`: no limit).
    pub timeout: Option<Duration>,
}

/// What came back, in the terms the answer classifiers read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status (gRPC: the HTTP/2 status, 200 also for gRPC errors).
    pub status: u16,
    /// The raw `Retry-After` header.
    pub retry_after: Option<String>,
    /// The raw `Location` header.
    pub location: Option<String>,
    /// Every response header whose value is text, names in lower case (HTTP transports;
    /// empty from transports that do not report them).
    pub headers: Vec<(String, String)>,
    /// The body, read up to [`MAX_ANSWER_BYTES`] (gRPC: the response message, unframed).
    pub body: Vec<u8>,
    /// gRPC only: `grpc-status` and `grpc-message`.
    pub grpc: Option<(u32, String)>,
}

impl Response {
    /// An HTTP answer.
    pub fn http(status: u16, body: Vec<u8>) -> Self {
        Self {
            status,
            body,
            ..Self::default()
        }
    }

    /// With its `Retry-After` header.
    #[must_use]
    pub fn with_retry_after(mut self, value: Option<String>) -> Self {
        self.retry_after = value;
        self
    }

    /// With its `Location` header.
    #[must_use]
    pub fn with_location(mut self, value: Option<String>) -> Self {
        self.location = value;
        self
    }

    /// With all its headers (names in lower case); `Retry-After` and `Location` are taken
    /// from them too.
    #[must_use]
    pub fn with_headers(mut self, headers: Vec<(String, String)>) -> Self {
        self.headers = headers;
        self.retry_after = self.header("retry-after").map(str::to_owned);
        self.location = self.header("location").map(str::to_owned);
        self
    }

    /// The value of header `name` (case-insensitive), from [`headers`](Self::headers).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// A gRPC answer: the HTTP/2 status, `grpc-status`, `grpc-message`, the unframed body.
    pub fn grpc(http_status: u16, code: u32, message: String, body: Vec<u8>) -> Self {
        Self {
            status: http_status,
            body,
            grpc: Some((code, message)),
            ..Self::default()
        }
    }
}

/// Sends one request and returns the answer, or a transport failure in words (no secrets).
/// Runs on the worker thread only; it may block for at most the request's timeout.
pub trait Transport: Send + 'static {
    /// One request.
    fn send(&mut self, request: &Request<'_>) -> Result<Response, String>;
}

/// How an HTTP transport is built: user agent and TLS material, as PEM bytes.
///
/// A custom CA replaces the built-in roots (what `OTEL_EXPORTER_OTLP_CERTIFICATE` means);
/// a client certificate and key together make mutual TLS. `Debug` shows which are set,
/// never the key.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct HttpOptions {
    /// The `User-Agent` header (none: the client's own or none).
    pub user_agent: Option<String>,
    /// PEM certificates trusted instead of the built-in roots.
    pub ca_pem: Option<Vec<u8>>,
    /// The client certificate chain (PEM) and its private key (PEM).
    pub client_identity_pem: Option<(Vec<u8>, Vec<u8>)>,
}

impl fmt::Debug for HttpOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpOptions")
            .field("user_agent", &self.user_agent)
            .field("ca_pem", &self.ca_pem.is_some())
            .field("client_identity_pem", &self.client_identity_pem.is_some())
            .finish()
    }
}

impl HttpOptions {
    /// With this `User-Agent`.
    #[must_use]
    pub fn with_user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Trusting these PEM certificates instead of the built-in roots.
    #[must_use]
    pub fn with_ca_pem(mut self, pem: Vec<u8>) -> Self {
        self.ca_pem = Some(pem);
        self
    }

    /// Presenting this client certificate chain and private key (both PEM).
    #[must_use]
    pub fn with_client_identity_pem(mut self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        self.client_identity_pem = Some((cert_pem, key_pem));
        self
    }
}

/// The HTTP transport the crate's features select (reqwest, else ureq), or why there is
/// none. Building it does no I/O and starts no runtime: that happens on its first request,
/// on the thread that makes it.
pub fn http_transport(options: &HttpOptions) -> Result<Box<dyn Transport>, String> {
    #[cfg(feature = "reqwest")]
    return Ok(Box::new(ReqwestTransport::new(options)?));
    #[cfg(all(feature = "ureq", not(feature = "reqwest")))]
    return Ok(Box::new(UreqTransport::new(options)?));
    #[cfg(not(any(feature = "reqwest", feature = "ureq")))]
    {
        let _ = options;
        Err(
            "no HTTP client: build tracing-insights-export with its `reqwest` or `ureq` feature"
                .into(),
        )
    }
}

/// [`http_transport`], or, when it cannot be built, a transport that answers every request
/// with the reason (so the pipeline reports it and keeps its items for a later attempt).
pub fn http_transport_or_reason(options: &HttpOptions) -> Box<dyn Transport> {
    http_transport(options).unwrap_or_else(|reason| Box::new(Unavailable(reason)))
}

/// A transport that only reports why the real one could not be made.
#[derive(Debug, Clone)]
pub struct Unavailable(pub String);

impl Transport for Unavailable {
    fn send(&mut self, _: &Request<'_>) -> Result<Response, String> {
        Err(self.0.clone())
    }
}

/// A request timeout in words, in whole milliseconds: a deadline's remainder reads `1.799s`,
/// not nanoseconds.
#[cfg(any(feature = "reqwest", feature = "ureq"))]
fn timeout_words(timeout: Option<Duration>) -> String {
    match timeout {
        Some(t) => {
            let t = Duration::from_millis(u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
            format!("no answer within {t:?} (the endpoint is slow or does not reply)")
        }
        None => "no answer in time (the endpoint is slow or does not reply)".into(),
    }
}

//! What carries a request body to the service: the [`Transport`] trait and its HTTP/1.1
//! implementation over `ureq` ([`UreqTransport`], the default).

use crate::encode::Body;
use std::time::Duration;

/// Answer bodies are read at most this far.
pub const MAX_ANSWER_BYTES: u64 = 1 << 20;

/// Shows a header list by names only (`Debug`): values are often secrets (API keys).
pub struct HeaderNames<'a>(pub &'a [(String, String)]);

impl std::fmt::Debug for HeaderNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k.as_str()))
            .finish()
    }
}

/// One request as the worker hands it to a transport.
#[derive(Debug)]
pub struct Request<'a> {
    /// Where to send it (redirects already applied).
    pub url: &'a str,
    /// Headers of the pipeline (their values may be secrets: never log them).
    pub headers: &'a [(String, String)],
    /// The `Authorization` value from the pipeline's [`RequestAuth`](crate::RequestAuth).
    pub authorization: Option<&'a str>,
    /// The body and its content headers.
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
    /// One POST.
    fn send(&mut self, request: &Request<'_>) -> Result<Response, String>;
}

/// HTTP/1.1 over `ureq` (redirects are not followed by it: the pipeline decides).
#[derive(Debug, Clone)]
pub struct UreqTransport {
    agent: ureq::Agent,
}

impl UreqTransport {
    /// Over an agent configured by the caller (TLS roots, user agent). The agent must not
    /// follow redirects and must not turn statuses into errors: [`UreqTransport::agent`]
    /// makes one that way.
    pub fn new(agent: ureq::Agent) -> Self {
        Self { agent }
    }

    /// An agent as this transport needs it, with optional TLS settings and user agent.
    pub fn agent(tls: Option<ureq::tls::TlsConfig>, user_agent: Option<&str>) -> ureq::Agent {
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0);
        if let Some(tls) = tls {
            config = config.tls_config(tls);
        }
        if let Some(ua) = user_agent {
            config = config.user_agent(ua);
        }
        config.build().into()
    }
}

impl Default for UreqTransport {
    fn default() -> Self {
        Self::new(Self::agent(None, None))
    }
}

impl Transport for UreqTransport {
    fn send(&mut self, r: &Request<'_>) -> Result<Response, String> {
        let mut req = self
            .agent
            .post(r.url)
            .header("Content-Type", r.body.content_type);
        for (k, v) in r.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        if let Some(enc) = r.body.content_encoding {
            req = req.header("Content-Encoding", enc);
        }
        if let Some(a) = r.authorization {
            req = req.header("Authorization", a);
        }
        req = req.config().timeout_global(r.timeout).build();
        match req.send(&r.body.bytes[..]) {
            Ok(mut resp) => {
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let retry_after = header("retry-after");
                let location = header("location");
                let status = resp.status().as_u16();
                let body = resp
                    .body_mut()
                    .with_config()
                    .limit(MAX_ANSWER_BYTES)
                    .read_to_vec()
                    .unwrap_or_default();
                Ok(Response::http(status, body)
                    .with_retry_after(retry_after)
                    .with_location(location))
            }
            Err(e) => Err(format!(
                "request to {} failed: {}",
                r.url,
                in_words(&e, r.timeout)
            )),
        }
    }
}

/// The HTTP client's error in words: its own say `timeout: global` for a receiver that
/// takes the connection and never answers.
fn in_words(e: &ureq::Error, timeout: Option<Duration>) -> String {
    match e {
        ureq::Error::Timeout(_) => match timeout {
            Some(t) => {
                // Whole milliseconds: a deadline's remainder reads `1.799s`, not nanoseconds.
                let t = Duration::from_millis(u64::try_from(t.as_millis()).unwrap_or(u64::MAX));
                format!("no answer within {t:?} (the endpoint is slow or does not reply)")
            }
            None => "no answer in time (the endpoint is slow or does not reply)".into(),
        },
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("connection refused: nothing listens there ({io})")
        }
        ureq::Error::HostNotFound => "host not found (check the endpoint's host name)".into(),
        other => other.to_string(),
    }
}

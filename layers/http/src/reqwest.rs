//! `reqwest-middleware`: a CLIENT span per request, its context sent along.

use crate::client::{client_span, record_client_status, ClientRequest, UrlTemplate};
use crate::headers::inject;
use reqwest_middleware::{Middleware, Next};
use std::error::Error as _;
use tracing::Instrument;

/// Middleware for a `reqwest_middleware::ClientWithMiddleware`: each request gets a CLIENT
/// span (a child of the current span) with `http.request.method`, `url.full` (credentials and
/// query values redacted), `server.address`, `server.port`, `http.response.status_code` and
/// `error.type`, and carries that span's `traceparent` / `tracestate`, so the callee's
/// request is its child.
///
/// (`no_run`: building a `reqwest::Client` needs the TLS provider the application picks.)
///
/// ```no_run
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(tracing_insights_http::TracingMiddleware::new())
///     .build();
/// # drop(client);
/// ```
///
/// A timeout, a refused connection or any other failure is recorded on the span
/// (`error.type` `timeout`, `connect`, ...; the cause chain as the status message, without
/// the URL) and returned unchanged. An HTTP 4xx or 5xx answer marks the span as an error.
#[derive(Clone, Debug)]
pub struct TracingMiddleware {
    redact_query: bool,
}

impl Default for TracingMiddleware {
    fn default() -> Self {
        Self { redact_query: true }
    }
}

impl TracingMiddleware {
    /// The middleware with query values redacted in `url.full`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `url.full` keeps query values (default: `false`, values become `REDACTED`).
    #[must_use]
    pub fn with_query_values(mut self, keep: bool) -> Self {
        self.redact_query = !keep;
        self
    }
}

#[async_trait::async_trait]
impl Middleware for TracingMiddleware {
    async fn handle(
        &self,
        mut req: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let span = {
            let url = req.url();
            let authority = match (url.host_str(), url.port()) {
                (Some(h), Some(p)) if h.contains(':') => Some(format!("[{h}]:{p}")),
                (Some(h), Some(p)) => Some(format!("{h}:{p}")),
                (Some(h), None) => Some(h.to_owned()),
                (None, _) => None,
            };
            client_span(
                &ClientRequest {
                    method: req.method(),
                    url: url.as_str(),
                    scheme: Some(url.scheme()),
                    authority: authority.as_deref(),
                    template: extensions.get::<UrlTemplate>(),
                },
                self.redact_query,
            )
        };
        inject(&span, req.headers_mut());
        let result = next.run(req, extensions).instrument(span.clone()).await;
        match &result {
            Ok(response) => record_client_status(&span, response.status().as_u16()),
            Err(err) => record_failure(&span, err),
        }
        result
    }
}

fn record_failure(span: &tracing::Span, err: &reqwest_middleware::Error) {
    let (kind, message) = match err {
        reqwest_middleware::Error::Reqwest(e) => (reqwest_kind(e), causes(e)),
        reqwest_middleware::Error::Middleware(e) => ("middleware", e.to_string()),
        #[allow(unreachable_patterns)]
        other => ("_OTHER", other.to_string()),
    };
    span.record("error.type", kind);
    span.record("otel.status_code", "error");
    span.record("otel.status_message", message);
}

/// A low-cardinality class of a reqwest error.
fn reqwest_kind(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_redirect() {
        "redirect"
    } else if e.is_body() {
        "body"
    } else if e.is_decode() {
        "decode"
    } else if e.is_request() {
        "request"
    } else {
        "_OTHER"
    }
}

/// The error's `source()` chain, outermost first: reqwest's own message names the URL
/// (query values and all), its causes do not.
fn causes(e: &reqwest::Error) -> String {
    let mut out = String::new();
    let mut next = e.source();
    let mut n = 0;
    while let Some(cause) = next {
        if n == 8 {
            break;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&cause.to_string());
        next = cause.source();
        n += 1;
    }
    if out.is_empty() {
        out.push_str(reqwest_kind(e));
    }
    out
}

//! CLIENT spans for outgoing requests: the tower layer for hyper clients, and what the
//! reqwest middleware shares with it.

use crate::headers::inject;
use crate::url::{default_port, method_name, redact_url, split_host_port};
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

/// The route template of an outgoing request (`/users/{id}`), given by the caller as a
/// request extension: the CLIENT span is then named `{METHOD} {template}` and records
/// `url.template`. Without it the span is named `{METHOD}` (a URL holds ids: never a name).
///
/// With reqwest-middleware: `client.get(url).with_extension(UrlTemplate::new("/search"))`;
/// with a tower client: `request.extensions_mut().insert(UrlTemplate::new("/search"))`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(Cow<'static, str>);

impl UrlTemplate {
    /// A template such as `/users/{id}`.
    pub fn new(template: impl Into<Cow<'static, str>>) -> Self {
        Self(template.into())
    }

    /// The template.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the CLIENT span of one request is made from.
pub(crate) struct ClientRequest<'a> {
    pub(crate) method: &'a http::Method,
    /// The whole URL, scheme and authority included.
    pub(crate) url: &'a str,
    pub(crate) scheme: Option<&'a str>,
    pub(crate) authority: Option<&'a str>,
    pub(crate) template: Option<&'a UrlTemplate>,
}

/// Opens the CLIENT span (a child of the current span) with the fields every exporter maps.
pub(crate) fn client_span(req: &ClientRequest<'_>, redact_query: bool) -> tracing::Span {
    let method = method_name(req.method);
    let name = match (req.template, method) {
        (Some(t), "_OTHER") => format!("HTTP {}", t.as_str()),
        (Some(t), m) => format!("{m} {}", t.as_str()),
        (None, "_OTHER") => "HTTP".to_owned(),
        (None, m) => m.to_owned(),
    };
    let (address, port) = req.authority.and_then(split_host_port).unzip();
    let port = port.flatten().or_else(|| req.scheme.and_then(default_port));
    let span = tracing::info_span!(
        target: "tracing_insights_http",
        "HTTP client request",
        otel.name = name,
        otel.kind = "client",
        otel.status_code = Empty,
        otel.status_message = Empty,
        http.request.method = method,
        http.request.method_original = Empty,
        url.full = redact_url(req.url, redact_query),
        url.scheme = req.scheme,
        url.template = req.template.map(UrlTemplate::as_str),
        server.address = address,
        server.port = port,
        http.response.status_code = Empty,
        error.type = Empty,
    );
    if method == "_OTHER" {
        span.record("http.request.method_original", req.method.as_str());
    }
    span
}

/// `http.response.status_code`; 4xx and 5xx are errors of a CLIENT span.
pub(crate) fn record_client_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 400 {
        span.record("error.type", status.to_string());
        span.record("otel.status_code", "error");
    }
}

/// A tower `Layer` for HTTP clients (hyper-util's `Client`, anything that is a
/// `Service<http::Request<B>, Response = http::Response<R>>`): a CLIENT span per request,
/// a child of the current span, whose `traceparent` / `tracestate` go out with the request.
///
/// The request URI must be absolute (`http://host:port/path`), as clients need anyway.
#[derive(Clone, Debug)]
pub struct ClientLayer {
    redact_query: bool,
}

impl Default for ClientLayer {
    fn default() -> Self {
        Self { redact_query: true }
    }
}

impl ClientLayer {
    /// The layer with query values redacted in `url.full`.
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

impl<S> Layer<S> for ClientLayer {
    type Service = ClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ClientService {
            inner,
            redact_query: self.redact_query,
        }
    }
}

/// The service [`ClientLayer`] wraps around a client.
#[derive(Clone, Debug)]
pub struct ClientService<S> {
    inner: S,
    redact_query: bool,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ClientService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: fmt::Display,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqB>) -> Self::Future {
        let url = req.uri().to_string();
        let span = client_span(
            &ClientRequest {
                method: req.method(),
                url: &url,
                scheme: req.uri().scheme_str(),
                authority: req.uri().authority().map(|a| a.as_str()),
                template: req.extensions().get::<UrlTemplate>(),
            },
            self.redact_query,
        );
        inject(&span, req.headers_mut());
        let inner = span.in_scope(|| self.inner.call(req));
        ClientFuture { inner, span }
    }
}

pin_project! {
    /// The response future of [`ClientService`].
    pub struct ClientFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
    }
}

impl<F> fmt::Debug for ClientFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ClientFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let polled = this.span.in_scope(|| this.inner.poll(cx));
        match &polled {
            Poll::Ready(Ok(response)) => {
                record_client_status(this.span, response.status().as_u16())
            }
            Poll::Ready(Err(err)) => {
                crate::server::record_error(this.span, std::any::type_name::<E>(), err)
            }
            Poll::Pending => {}
        }
        polled
    }
}

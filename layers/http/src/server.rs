//! The server layer: one SERVER span per request, continuing the caller's trace.

use crate::body::ResponseBody;
use crate::grpc;
use crate::headers::{extract, TRACERESPONSE};
use crate::url::{method_name, protocol_version, redact_query, split_host_port};
use http::{Request, Response};
use pin_project_lite::pin_project;
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;
use tracing_insights_correlation::CorrelationSpanExt;

/// A `tower::Layer` that gives every request a SERVER span with the HTTP (or gRPC) fields
/// every exporter maps, continuing the caller's W3C trace. Works for axum 0.8
/// (`Router::layer`), hyper-util and tonic services: anything that is a
/// `Service<http::Request<B>, Response = http::Response<R>>`.
///
/// ```
/// # #[cfg(feature = "axum")] {
/// use tracing_insights_http::ServerLayer;
/// let app: axum::Router = axum::Router::new()
///     .route("/search/{id}", axum::routing::get(|| async { "found" }))
///     .layer(ServerLayer::new());
/// # }
/// ```
///
/// Per request it reads `traceparent` / `tracestate` ([`extract`]), opens a span named
/// `{METHOD} {route}` (or `{METHOD}` when no route is known) and records the response status;
/// see the crate docs for every field. The span lasts until the response body has been sent.
/// It reads no body and records no header value except `user-agent`.
#[derive(Clone, Debug, Default)]
pub struct ServerLayer {
    config: Arc<ServerConfig>,
}

#[derive(Clone, Debug)]
struct ServerConfig {
    redact_query: bool,
    traceresponse: bool,
    scheme: &'static str,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            redact_query: true,
            traceresponse: false,
            scheme: "http",
        }
    }
}

impl ServerLayer {
    /// The layer with the defaults: query values redacted, no `traceresponse`, scheme
    /// `http` unless the request URI names one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `url.query` keeps its values (default: `false`, values become `REDACTED`).
    #[must_use]
    pub fn with_query_values(mut self, keep: bool) -> Self {
        Arc::make_mut(&mut self.config).redact_query = !keep;
        self
    }

    /// Returns the SERVER span's context to the caller in a `traceresponse` header
    /// (default: off: it tells any client the server's trace ids).
    #[must_use]
    pub fn with_traceresponse(mut self, on: bool) -> Self {
        Arc::make_mut(&mut self.config).traceresponse = on;
        self
    }

    /// The `url.scheme` when the request URI has none (HTTP/1 requests never do): `https`
    /// behind a TLS acceptor. Default: `http`.
    #[must_use]
    pub fn with_scheme(mut self, scheme: &'static str) -> Self {
        Arc::make_mut(&mut self.config).scheme = scheme;
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = ServerService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ServerService {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service [`ServerLayer`] wraps around the application's.
#[derive(Clone, Debug)]
pub struct ServerService<S> {
    inner: S,
    config: Arc<ServerConfig>,
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for ServerService<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: fmt::Display,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ServerFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqB>) -> Self::Future {
        let grpc = grpc::is_grpc(req.headers());
        let span = if grpc {
            grpc_span(&self.config, &req)
        } else {
            http_span(&self.config, &req)
        };
        extract(&span, req.headers());
        let inner = span.in_scope(|| self.inner.call(req));
        ServerFuture {
            inner,
            span,
            grpc,
            traceresponse: self.config.traceresponse,
        }
    }
}

/// The route template: axum's `MatchedPath` when the `axum` feature is on and the layer runs
/// inside the router; never the raw path, which carries ids.
fn route<B>(req: &Request<B>) -> Option<&str> {
    #[cfg(feature = "axum")]
    if let Some(path) = req.extensions().get::<axum::extract::MatchedPath>() {
        return Some(path.as_str());
    }
    let _ = req;
    None
}

fn client_address<B>(req: &Request<B>) -> Option<String> {
    #[cfg(feature = "axum")]
    if let Some(info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0.ip().to_string());
    }
    req.extensions()
        .get::<SocketAddr>()
        .map(|a| a.ip().to_string())
}

/// `server.address` / `server.port` from the URI's authority (HTTP/2, absolute-form
/// requests) or the `Host` header.
fn server_address<B>(req: &Request<B>) -> Option<(&str, Option<u16>)> {
    if let Some(authority) = req.uri().authority() {
        return split_host_port(authority.as_str());
    }
    let host = req.headers().get(http::header::HOST)?.to_str().ok()?;
    split_host_port(host)
}

fn user_agent<B>(req: &Request<B>) -> Option<&str> {
    req.headers()
        .get(http::header::USER_AGENT)?
        .to_str()
        .ok()
        .map(|ua| ua.get(..512).unwrap_or(ua))
}

fn http_span<B>(config: &ServerConfig, req: &Request<B>) -> tracing::Span {
    let method = method_name(req.method());
    let route = route(req);
    let name = match route {
        Some(r) => format!("{method} {r}"),
        None if method == "_OTHER" => "HTTP".to_owned(),
        None => method.to_owned(),
    };
    let query = req.uri().query().map(|q| {
        if config.redact_query {
            redact_query(q)
        } else {
            q.to_owned()
        }
    });
    let (address, port) = server_address(req).unzip();
    let span = tracing::info_span!(
        target: "tracing_insights_http",
        "HTTP server request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_message = Empty,
        http.request.method = method,
        http.request.method_original = Empty,
        http.route = route,
        url.path = req.uri().path(),
        url.query = query,
        url.scheme = req.uri().scheme_str().unwrap_or(config.scheme),
        server.address = address,
        server.port = port.flatten(),
        client.address = client_address(req),
        user_agent.original = user_agent(req),
        network.protocol.version = protocol_version(req.version()),
        http.response.status_code = Empty,
        error.type = Empty,
    );
    if method == "_OTHER" {
        span.record("http.request.method_original", req.method().as_str());
    }
    span
}

fn grpc_span<B>(_config: &ServerConfig, req: &Request<B>) -> tracing::Span {
    let (service, method) = grpc::service_method(req.uri().path());
    let name = match (service, method) {
        (Some(s), Some(m)) => format!("{s}/{m}"),
        _ => "grpc".to_owned(),
    };
    let (address, port) = server_address(req).unzip();
    tracing::info_span!(
        target: "tracing_insights_http",
        "gRPC server request",
        otel.name = name,
        otel.kind = "server",
        otel.status_code = Empty,
        otel.status_message = Empty,
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
        server.address = address,
        server.port = port.flatten(),
        client.address = client_address(req),
        user_agent.original = user_agent(req),
        network.protocol.version = protocol_version(req.version()),
        error.type = Empty,
    )
}

pin_project! {
    /// The response future of [`ServerService`]: polls the application's future inside the
    /// request span and records how it ended.
    pub struct ServerFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        grpc: bool,
        traceresponse: bool,
    }
}

impl<F> fmt::Debug for ServerFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerFuture")
            .field("span", &self.span)
            .field("grpc", &self.grpc)
            .finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ServerFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let span = this.span;
        let entered = span.enter();
        let inner = this.inner;
        let polled = match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(polled) => polled,
            Err(panic) => {
                // Recorded, then passed on: whoever runs the service (hyper, a catch-panic
                // layer outside this one) decides what the client sees.
                record_panic(span, panic.as_ref());
                drop(entered);
                resume_unwind(panic);
            }
        };
        drop(entered);
        match polled {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(mut response)) => {
                if *this.grpc {
                    grpc::record_response_headers(span, response.headers());
                } else {
                    record_status(span, response.status().as_u16());
                }
                if *this.traceresponse {
                    if let Some(value) = span
                        .traceparent()
                        .and_then(|tp| http::HeaderValue::from_str(&tp).ok())
                    {
                        response.headers_mut().insert(TRACERESPONSE, value);
                    }
                }
                let grpc = *this.grpc;
                Poll::Ready(Ok(
                    response.map(|body| ResponseBody::new(body, span.clone(), grpc))
                ))
            }
            Poll::Ready(Err(err)) => {
                record_error(span, std::any::type_name::<E>(), &err);
                Poll::Ready(Err(err))
            }
        }
    }
}

/// `http.response.status_code`; a 5xx is the server's error (`error.type` the code), a
/// 4xx the client's and not an error of this span.
fn record_status(span: &tracing::Span, status: u16) {
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("error.type", status.to_string());
        span.record("otel.status_code", "error");
    }
}

/// A service error: `error.type` is the error's type, the status message its text.
pub(crate) fn record_error(span: &tracing::Span, type_name: &str, err: &dyn fmt::Display) {
    // Formatted before any recording: the application's Display runs under no lock of ours.
    let message = err.to_string();
    span.record("error.type", type_name);
    span.record("otel.status_code", "error");
    span.record("otel.status_message", message);
}

fn record_panic(span: &tracing::Span, panic: &(dyn std::any::Any + Send)) {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned());
    span.record("error.type", "panic");
    span.record("otel.status_code", "error");
    span.record(
        "otel.status_message",
        format!("handler panicked: {message}"),
    );
}

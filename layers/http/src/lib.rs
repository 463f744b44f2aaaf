//! # tracing-insights-http
//!
//! A trace that crosses services with no hand-written glue: SERVER spans for tower services
//! (axum 0.8, hyper-util, tonic), CLIENT spans for reqwest (through `reqwest-middleware`) and
//! tower clients, and `HeaderMap` helpers for everything else. Built on the correlation
//! layer's public API ([`CorrelationSpanExt`](tracing_insights_correlation::CorrelationSpanExt)):
//! the spans carry the W3C ids every `tracing-insights` exporter reads, and exactly the
//! fields the Application Insights and OTLP exporters map.
//!
//! ```no_run
//! # #[cfg(all(feature = "axum", feature = "reqwest"))] {
//! use tracing_insights_http::{ServerLayer, TracingMiddleware};
//!
//! // Server: one layer on the router (after the routes, so `http.route` is known).
//! let app: axum::Router = axum::Router::new()
//!     .route("/chat", axum::routing::post(|| async { "hi" }))
//!     .layer(ServerLayer::new());
//! // Client: the middleware; calls made inside a request's span become its children.
//! let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
//!     .with(TracingMiddleware::new())
//!     .build();
//! # drop((app, client)); }
//! ```
//!
//! Stack the correlation layer (and the exporters) on the subscriber as usual; without it
//! the spans are plain `tracing` spans and no header is read or written.
//!
//! ## The field recipe
//!
//! Spans made by hand map the same way when they carry these fields (`tracing` needs every
//! field named when the span is made: declare later ones as `tracing::field::Empty`).
//!
//! **HTTP server** (App Insights *Request*; OTLP span of kind SERVER):
//!
//! | field | value | App Insights |
//! |---|---|---|
//! | `otel.kind` | `"server"` | a Request |
//! | `otel.name` | `{METHOD} {route}`, or `{METHOD}` with no route | |
//! | `http.request.method` | `GET`, `POST`, ... (`_OTHER` for others) | name `{method} {http.route}` |
//! | `http.route` | the route template, never the raw path | |
//! | `url.scheme`, `server.address`, `server.port`, `url.path`, `url.query` | the request URL in pieces; query values redacted | `url` = `scheme://address:port/path?query` (all of scheme, address and path are needed) |
//! | `client.address` | the peer's IP | `ai.location.ip` |
//! | `user_agent.original` | the `User-Agent` header | `ai.user.userAgent` |
//! | `network.protocol.version` | `1.1`, `2` | |
//! | `http.response.status_code` | the status, once known | `responseCode`; `success` is `code < 400` |
//! | `error.type`, `otel.status_code = "error"` | a 5xx (the code as text), `panic`, or the service error's type | `success: false` |
//!
//! **HTTP client** (App Insights *RemoteDependency* of type `HTTP`; OTLP CLIENT span):
//!
//! | field | value | App Insights |
//! |---|---|---|
//! | `otel.kind` | `"client"` | a RemoteDependency |
//! | `otel.name` | `{METHOD}`, or `{METHOD} {url.template}` | name `{method} {path of url.full}` |
//! | `http.request.method` | as above | `type: HTTP` |
//! | `url.full` | the URL, credentials and query values redacted | `data` |
//! | `url.scheme`, `server.address`, `server.port` | the callee | `target` = `address:port` (port left out when it is the scheme's default) |
//! | `url.template` | the caller's route template, when given | |
//! | `http.response.status_code` | the status | `resultCode` |
//! | `error.type`, `otel.status_code = "error"` | 4xx/5xx (the code), `timeout`, `connect`, ... | `success: false` |
//!
//! **gRPC server** (`content-type: application/grpc`): `otel.kind = "server"`,
//! `otel.name = {service}/{method}`, `rpc.system = "grpc"`, `rpc.service`, `rpc.method`,
//! `rpc.grpc.status_code` (from the `grpc-status` header or trailer; UNKNOWN, DEADLINE_EXCEEDED,
//! UNIMPLEMENTED, INTERNAL, UNAVAILABLE and DATA_LOSS are errors), `server.address`,
//! `server.port`, `client.address`. No `http.*` fields.
//!
//! Then continue the caller's trace with [`extract`] before the span is entered, and send
//! yours with [`inject`].
//!
//! ## Limits and safety
//!
//! - No request or response body is read; the response body is only watched for its end (the
//!   span lasts until it is sent) and, for gRPC, its `grpc-status` trailer.
//! - No header value is recorded except `User-Agent` (cut at 512 bytes): no cookie, no
//!   authorization. Query values are `REDACTED` unless `with_query_values(true)`; credentials
//!   in a client URL always are.
//! - A `traceparent` over [`MAX_TRACEPARENT_LEN`], repeated, or malformed starts a new trace;
//!   a `tracestate` over [`MAX_TRACESTATE_LEN`] is dropped.
//! - A handler that panics is recorded on the span (`error.type = "panic"`) and the panic
//!   goes on unchanged; a service error is recorded and returned unchanged.
//!
//! ## Feature flags
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `axum` | no | `http.route` from axum's `MatchedPath`, `client.address` from `ConnectInfo` |
//! | `reqwest` | no | [`TracingMiddleware`] for `reqwest-middleware` 0.5 / reqwest 0.13 |
//!
//! Without `axum`, `client.address` comes from a `std::net::SocketAddr` request extension
//! (insert it where the connection is accepted) and no `http.route` is recorded.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod body;
mod client;
mod grpc;
mod headers;
#[cfg(feature = "reqwest")]
mod reqwest;
mod server;
pub mod url;

pub use body::ResponseBody;
pub use client::{ClientFuture, ClientLayer, ClientService, UrlTemplate};
pub use headers::{
    extract, inject, inject_current, MAX_TRACEPARENT_LEN, MAX_TRACESTATE_LEN, TRACEPARENT,
    TRACERESPONSE, TRACESTATE,
};
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use reqwest::TracingMiddleware;
pub use server::{ServerFuture, ServerLayer, ServerService};

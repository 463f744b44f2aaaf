//! gRPC over HTTP/2: recognising a call, naming it, reading its status.

use http::HeaderMap;

/// Whether the request is a gRPC call (`content-type: application/grpc`, `+proto`, ...).
pub(crate) fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.strip_prefix("application/grpc")
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(['+', ';']))
        })
}

/// `rpc.service` and `rpc.method` from the path `/{package.Service}/{Method}`.
pub(crate) fn service_method(path: &str) -> (Option<&str>, Option<&str>) {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().filter(|s| !s.is_empty());
    let method = parts.next().filter(|m| !m.is_empty() && !m.contains('/'));
    match (service, method) {
        (Some(s), Some(m)) => (Some(s), Some(m)),
        _ => (None, None),
    }
}

/// The status codes a server counts as its own error (OpenTelemetry's gRPC conventions):
/// UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS.
fn is_server_error(code: u32) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// Records `rpc.grpc.status_code` from a `grpc-status` header or trailer, when present.
/// Returns whether one was found.
pub(crate) fn record_status(span: &tracing::Span, map: &HeaderMap) -> bool {
    let Some(code) = map
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u32>().ok())
    else {
        return false;
    };
    span.record("rpc.grpc.status_code", code);
    if is_server_error(code) {
        span.record("error.type", code.to_string());
        span.record("otel.status_code", "error");
        if let Some(message) = map.get("grpc-message").and_then(|v| v.to_str().ok()) {
            span.record(
                "otel.status_message",
                message.get(..1024).unwrap_or(message),
            );
        }
    }
    true
}

/// A trailers-only response carries its status in the headers; otherwise it comes in the
/// trailers at the end of the body (see `ResponseBody`).
pub(crate) fn record_response_headers(span: &tracing::Span, headers: &HeaderMap) {
    record_status(span, headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        let mut h = HeaderMap::new();
        for (ct, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc-web", false),
            ("application/json", false),
        ] {
            h.insert(http::header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_grpc(&h), grpc, "{ct}");
        }
    }

    #[test]
    fn service_and_method() {
        assert_eq!(
            service_method("/helloworld.Greeter/SayHello"),
            (Some("helloworld.Greeter"), Some("SayHello"))
        );
        assert_eq!(service_method("/only"), (None, None));
        assert_eq!(service_method("/a/b/c"), (None, None));
    }
}

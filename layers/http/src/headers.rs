//! W3C Trace Context in an `http::HeaderMap`: continue a caller's trace, hand ours on.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use tracing_insights_correlation::CorrelationSpanExt;

/// The W3C `traceparent` header.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// The W3C `tracestate` header.
pub const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");
/// The W3C `traceresponse` header (a server's own span, returned to the caller).
pub const TRACERESPONSE: HeaderName = HeaderName::from_static("traceresponse");

/// The longest `traceparent` read. Version 00 is exactly 55 characters; later versions may
/// append fields, and this bound stops a hostile header from costing more than a glance.
pub const MAX_TRACEPARENT_LEN: usize = 256;

/// The longest `tracestate` read, all its header lines together (W3C: 32 members of at most
/// 256 characters; vendors must carry at least 512). A longer value is dropped, not cut.
pub const MAX_TRACESTATE_LEN: usize = tracing_insights_correlation::traceparent::MAX_TRACESTATE_LEN;

/// Makes `span` continue the trace in `headers`' `traceparent` (and carry its
/// `tracestate`). Call it before the span is entered or used: after that its ids are fixed
/// and this does nothing.
///
/// Returns whether a parent was taken. A missing, malformed or over-long `traceparent`, or
/// more than one (W3C: then none is valid), leaves the span a new trace; `tracestate` is read
/// only with a valid `traceparent`, its header lines joined with commas.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// use tracing_insights_correlation::{self as correlation, CorrelationSpanExt};
///
/// let subscriber = tracing_subscriber::registry().with(correlation::layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let mut headers = http::HeaderMap::new();
///     headers.insert(
///         "traceparent",
///         "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".parse().unwrap(),
///     );
///     let span = tracing::info_span!("job", otel.kind = "consumer");
///     assert!(tracing_insights_http::extract(&span, &headers));
///     assert_eq!(span.trace_id().unwrap().to_string(), "0af7651916cd43dd8448eb211c80319c");
/// });
/// ```
pub fn extract(span: &tracing::Span, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    if value.len() > MAX_TRACEPARENT_LEN {
        return false;
    }
    let Ok(value) = value.to_str() else {
        return false;
    };
    if !span.set_parent_from_traceparent(value) {
        return false;
    }
    let mut state = String::new();
    for line in headers.get_all(TRACESTATE) {
        let line = match line.to_str() {
            Ok(l) => l.trim_matches(|c| c == ' ' || c == '\t'),
            Err(_) => return true,
        };
        if line.is_empty() {
            continue;
        }
        if state.len() + line.len() + 1 > MAX_TRACESTATE_LEN {
            return true;
        }
        if !state.is_empty() {
            state.push(',');
        }
        state.push_str(line);
    }
    if !state.is_empty() {
        span.set_tracestate(&state);
    }
    true
}

/// Writes `span`'s `traceparent` (and the trace's `tracestate`) into `headers`, replacing
/// any there, so that the callee's work becomes a child of `span`. Returns whether a
/// `traceparent` was written (`false` when the span is disabled or no correlation layer is
/// installed).
pub fn inject(span: &tracing::Span, headers: &mut HeaderMap) -> bool {
    let Some(tp) = span.traceparent() else {
        return false;
    };
    let Ok(tp) = HeaderValue::from_str(&tp) else {
        return false;
    };
    headers.insert(TRACEPARENT, tp);
    match span
        .tracestate()
        .and_then(|s| HeaderValue::from_str(&s).ok())
    {
        Some(state) => {
            headers.insert(TRACESTATE, state);
        }
        None => {
            headers.remove(TRACESTATE);
        }
    }
    true
}

/// [`inject`] for the current span: for a call made by hand inside an instrumented
/// function. Prefer a CLIENT span ([`ClientLayer`](crate::ClientLayer), the reqwest
/// middleware, or one made with the field recipe in the crate docs) so the call shows as a
/// dependency.
pub fn inject_current(headers: &mut HeaderMap) -> bool {
    inject(&tracing::Span::current(), headers)
}

//! What an OTLP receiver's answer means ([`OtlpAnswers`], the export pipeline's classifier
//! for OTLP), and answers in words with a hint for the usual mistakes.
//!
//! OTLP's rules: HTTP 429, 502, 503 and 504 are retryable, honouring `Retry-After`; the gRPC
//! codes CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, OUT_OF_RANGE,
//! UNAVAILABLE and DATA_LOSS likewise; a success may carry a partial success (`rejected_*`
//! count and a message), whose rejected items are counted and reported, not retried;
//! everything else is final.

use crate::config::{signal_name, Protocol, Signal};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use std::time::SystemTime;
use tracing_insights_export::answer::{parse_retry_after, Answer};
use tracing_insights_export::{Classify, DropReason, Response};

/// OTLP's answers for one signal's endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) struct OtlpAnswers {
    pub(crate) signal: Signal,
    pub(crate) protocol: Protocol,
    /// An authorization hook is configured: a 401 refreshes it and tries again once.
    pub(crate) auth: bool,
}

impl Classify for OtlpAnswers {
    fn classify(&self, r: &Response, now: SystemTime) -> Answer {
        if let Some((code, _)) = &r.grpc {
            return match *code {
                0 => self.partial(&r.body),
                16 if self.auth => Answer::Retry {
                    retry_after: None,
                    unauthorized: true,
                },
                c if grpc_retryable(c) => Answer::Retry {
                    retry_after: None,
                    unauthorized: false,
                },
                _ => Answer::Drop(DropReason::Rejected),
            };
        }
        let retry_after = r
            .retry_after
            .as_deref()
            .and_then(|v| parse_retry_after(v, now));
        match r.status {
            200..=299 => self.partial(&r.body),
            429 | 502 | 503 | 504 => Answer::Retry {
                retry_after,
                unauthorized: false,
            },
            401 if self.auth => Answer::Retry {
                retry_after,
                unauthorized: true,
            },
            307 | 308 => Answer::Redirect(r.location.clone()),
            _ => Answer::Drop(DropReason::Rejected),
        }
    }

    fn describe(&self, r: &Response) -> String {
        let words = match &r.grpc {
            Some((code, message)) => grpc_words(*code, r.status, message),
            None => status_words(r.status),
        };
        format!("{}: {words}", signal_name(self.signal))
    }
}

impl OtlpAnswers {
    /// A success: accepted, or partially (the `Export*ServiceResponse`'s `partial_success`,
    /// decoded from protobuf answers; a JSON answer's is not read).
    fn partial(&self, body: &[u8]) -> Answer {
        if self.protocol == Protocol::HttpJson || body.is_empty() {
            return Answer::Accepted;
        }
        let partial = match self.signal {
            Signal::Traces => ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_spans, p.error_message)),
            Signal::Logs => ExportLogsServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_log_records, p.error_message)),
            Signal::Metrics => ExportMetricsServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_data_points, p.error_message)),
        };
        match partial {
            Some((rejected, message)) if rejected > 0 || !message.is_empty() => {
                Answer::PartiallyRejected {
                    rejected: u64::try_from(rejected).unwrap_or(0),
                    message,
                }
            }
            _ => Answer::Accepted,
        }
    }
}

/// An HTTP status in words, with a hint for the usual mistakes.
pub(crate) fn status_words(status: u16) -> String {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let hint = match status {
        200..=299 => "",
        301..=303 => {
            " (a redirect: set the endpoint to the URL it points to; only 307/308 to the same host are followed)"
        }
        307 | 308 => " (a redirect: only 307/308 to the same host are followed)",
        400 => " (the receiver could not decode the request: check the protocol)",
        401 | 403 => " (check the authentication headers)",
        404 => " (wrong path? a signal endpoint is used exactly as given, while OTEL_EXPORTER_OTLP_ENDPOINT gets /v1/<signal> appended)",
        405 => " (the receiver does not accept this signal here)",
        413 => " (the batch is too large: lower the batch size)",
        415 => " (the receiver does not accept this content type: try http/protobuf)",
        429 | 502 | 503 | 504 => " (retryable)",
        _ => "",
    };
    format!("HTTP {status} {reason}{hint}").replace("  ", " ")
}

/// A gRPC status in words, with a hint.
pub(crate) fn grpc_words(code: u32, http_status: u16, message: &str) -> String {
    if code == 0 {
        return format!("gRPC status 0 OK (HTTP {http_status})");
    }
    let hint = match code {
        12 => " (this server does not offer the OTLP service for this signal)",
        16 | 7 => " (check the authentication headers)",
        _ if grpc_retryable(code) => " (retryable)",
        _ => "",
    };
    let msg = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    format!("gRPC status {code} {}{msg}{hint}", grpc_code_name(code))
}

/// The gRPC status names.
pub(crate) fn grpc_code_name(code: u32) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        2 => "UNKNOWN",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "?",
    }
}

/// OTLP's retryable gRPC codes (the specification's table).
pub(crate) fn grpc_retryable(code: u32) -> bool {
    matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn answers() -> OtlpAnswers {
        OtlpAnswers {
            signal: Signal::Traces,
            protocol: Protocol::HttpProtobuf,
            auth: false,
        }
    }

    #[test]
    fn otlp_table() {
        let now = SystemTime::now();
        let c = |status: u16, ra: Option<&str>| {
            answers().classify(
                &Response::http(status, Vec::new()).with_retry_after(ra.map(str::to_owned)),
                now,
            )
        };
        assert_eq!(c(200, None), Answer::Accepted);
        for s in [429, 502, 503, 504] {
            assert!(matches!(c(s, None), Answer::Retry { .. }), "{s}");
        }
        assert_eq!(
            c(503, Some("1")),
            Answer::Retry {
                retry_after: Some(Duration::from_secs(1)),
                unauthorized: false
            }
        );
        for s in [400, 401, 403, 404, 408, 413, 500] {
            assert_eq!(c(s, None), Answer::Drop(DropReason::Rejected), "{s}");
        }
        let partial = ExportTraceServiceResponse {
            partial_success: Some(
                opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess {
                    rejected_spans: 2,
                    error_message: "too old".into(),
                },
            ),
        };
        assert_eq!(
            answers().classify(&Response::http(200, partial.encode_to_vec()), now),
            Answer::PartiallyRejected {
                rejected: 2,
                message: "too old".into()
            }
        );
        let grpc =
            |code| answers().classify(&Response::grpc(200, code, String::new(), vec![]), now);
        assert_eq!(grpc(0), Answer::Accepted);
        assert!(matches!(grpc(14), Answer::Retry { .. }));
        assert_eq!(grpc(3), Answer::Drop(DropReason::Rejected));
    }
}

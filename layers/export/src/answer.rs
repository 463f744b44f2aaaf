//! What an answer means: the pure decision the worker acts on ([`Answer`]), the
//! per-exporter [`Classify`] trait that makes it, Application Insights' table
//! ([`AppInsightsAnswers`], the default), the one `Retry-After` parser and the one backoff.
//!
//! Kept free of I/O so every row of the answers table (see the crate docs) is a unit test,
//! and so `Retry-After` parsing can be property-tested.

use crate::transport::Response;
use std::time::{Duration, SystemTime};

/// Per-item status codes that are worth sending again (Microsoft's exporter: section 2.6 of
/// the protocol reference, `_is_retryable_code`).
pub const RETRYABLE_STATUS: [u16; 8] = [401, 403, 408, 429, 500, 502, 503, 504];

/// The longest `Retry-After` honoured; a longer one is clamped to this. Chosen so a
/// misconfigured proxy cannot park telemetry beyond the spool's retention.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// Why an item was given up. Each reason has its own counter
/// ([`ExportStats::dropped_by`](crate::ExportStats::dropped_by)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// The queue was full (or the worker gone) when the layer handed the item over.
    QueueFull,
    /// The item was larger than the per-item limit.
    Oversized,
    /// The service refused it for good (400, 404, any other non-retryable status, or a
    /// non-retryable per-item error).
    Rejected,
    /// Quota answers 402/439 without `Retry-After`: no hot retry, dropped.
    Quota,
    /// A redirect was refused: cross-origin, no/invalid `Location`, or a loop.
    Redirect,
    /// Every attempt failed (or the in-memory retry buffer was full) and the offline spool
    /// was disabled.
    RetriesExhausted,
    /// The spool could not take it (full, read-only or failing disk) and the in-memory
    /// retry buffer was full too.
    SpoolUnavailable,
    /// Still undelivered when `shutdown`'s deadline passed and nowhere to keep it.
    Shutdown,
    /// A spooled batch passed the retention period, or its file was corrupt.
    Expired,
    /// A telemetry processor dropped it (returned `false`, or panicked: the panic is also
    /// counted in [`ExportStats::contained_panics`](crate::ExportStats::contained_panics)).
    Processor,
}

impl DropReason {
    /// Every reason, for reports.
    pub const ALL: [DropReason; 10] = [
        DropReason::QueueFull,
        DropReason::Oversized,
        DropReason::Rejected,
        DropReason::Quota,
        DropReason::Redirect,
        DropReason::RetriesExhausted,
        DropReason::SpoolUnavailable,
        DropReason::Shutdown,
        DropReason::Expired,
        DropReason::Processor,
    ];

    pub(crate) fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }

    /// Whether this reason is an export failure (anything but a full queue or an oversized
    /// item, which are refused before the worker sees them, and a processor's choice).
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            DropReason::QueueFull | DropReason::Oversized | DropReason::Processor
        )
    }
}

/// The decision taken on one HTTP answer (or transport failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Everything accepted.
    Accepted,
    /// Some items failed; indices are positions in the request's JSON array.
    Partial {
        /// Indices worth sending again.
        retry: Vec<usize>,
        /// Indices refused for good.
        rejected: Vec<usize>,
        /// Indices the service dropped by ingestion sampling ("Telemetry sampled out."):
        /// not an error.
        sampled_out: Vec<usize>,
        /// The answer's `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// Send the whole batch again later.
    Retry {
        /// The answer's `Retry-After`, if any.
        retry_after: Option<Duration>,
        /// A 401: the bearer token should be refreshed first.
        unauthorized: bool,
    },
    /// Accepted except for this many items, which the service refused for good without
    /// saying which (OTLP's partial success): counted as [`DropReason::Rejected`].
    PartiallyRejected {
        /// How many items were refused.
        rejected: u64,
        /// The service's message.
        message: String,
    },
    /// Follow a 307/308 to this `Location` (not yet checked against the allowed origins).
    Redirect(Option<String>),
    /// Give the batch up.
    Drop(DropReason),
}

/// Decides what to do with an answer: `status`, its `Retry-After` header (raw) and body.
/// `now` is used for HTTP-date `Retry-After` values.
pub fn classify(
    status: u16,
    retry_after: Option<&str>,
    location: Option<&str>,
    body: &[u8],
    now: SystemTime,
) -> Answer {
    let retry_after = retry_after.and_then(|v| parse_retry_after(v, now));
    match status {
        200..=299 => match parse_item_errors(body) {
            Some(errors) if !errors.is_empty() => {
                let mut retry = Vec::new();
                let mut rejected = Vec::new();
                let mut sampled_out = Vec::new();
                for e in errors {
                    if e.message
                        .trim()
                        .eq_ignore_ascii_case("telemetry sampled out.")
                    {
                        sampled_out.push(e.index);
                    } else if RETRYABLE_STATUS.contains(&e.status) {
                        retry.push(e.index);
                    } else {
                        rejected.push(e.index);
                    }
                }
                Answer::Partial {
                    retry,
                    rejected,
                    sampled_out,
                    retry_after,
                }
            }
            // Empty or unparseable body: the service said 2xx, take it as delivered
            // (re-sending blind could duplicate; Microsoft drops a non-JSON 200 instead).
            _ => Answer::Accepted,
        },
        307 | 308 => Answer::Redirect(location.map(str::to_owned)),
        401 => Answer::Retry {
            retry_after,
            unauthorized: true,
        },
        403 | 408 | 429 | 500 | 502 | 503 | 504 => Answer::Retry {
            retry_after,
            unauthorized: false,
        },
        // Quota: no hot retry. A quota answer that says when to come back is honoured.
        402 | 439 => match retry_after {
            Some(_) => Answer::Retry {
                retry_after,
                unauthorized: false,
            },
            None => Answer::Drop(DropReason::Quota),
        },
        _ => Answer::Drop(DropReason::Rejected),
    }
}

/// Decides what an answer means for one exporter. Runs on the worker thread.
pub trait Classify: Send + Sync + 'static {
    /// The decision on `response`; `now` is for HTTP-date `Retry-After` values.
    fn classify(&self, response: &Response, now: SystemTime) -> Answer;

    /// The answer in words for error reports (default `HTTP <status>`).
    fn describe(&self, response: &Response) -> String {
        format!("HTTP {}", response.status)
    }
}

/// Application Insights' answers table (the crate docs' table): the default classifier.
#[derive(Debug, Clone, Copy, Default)]
pub struct AppInsightsAnswers;

impl Classify for AppInsightsAnswers {
    fn classify(&self, r: &Response, now: SystemTime) -> Answer {
        classify(
            r.status,
            r.retry_after.as_deref(),
            r.location.as_deref(),
            &r.body,
            now,
        )
    }
}

/// The wait before attempt `attempts + 1` of a batch: `base` doubled per attempt, at most
/// `max`, with jitter between 50 % and 100 % of that step (so clients that failed
/// together do not retry together).
pub fn backoff(base: Duration, attempts: u32, max: Duration) -> Duration {
    let exp = base
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1)))
        .min(max);
    exp.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// One entry of the answer body's `errors` array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Position in the request's JSON array.
    pub index: usize,
    /// The item's status code.
    pub status: u16,
    /// The service's message.
    pub message: String,
}

/// Parses `{"itemsReceived":..,"itemsAccepted":..,"errors":[{"index","statusCode","message"}]}`.
/// `None` when the body is not such an object.
pub fn parse_item_errors(body: &[u8]) -> Option<Vec<ItemError>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let errors = v.get("errors")?.as_array()?;
    Some(
        errors
            .iter()
            .filter_map(|e| {
                Some(ItemError {
                    index: usize::try_from(e.get("index")?.as_u64()?).ok()?,
                    status: u16::try_from(e.get("statusCode")?.as_u64()?).ok()?,
                    message: e
                        .get("message")
                        .and_then(|m| m.as_str())
                        .unwrap_or("")
                        .to_owned(),
                })
            })
            .collect(),
    )
}

/// Parses a `Retry-After` value: delay-seconds or an HTTP date (IMF-fixdate,
/// `Sun, 06 Nov 1994 08:49:37 GMT`). Only positive delays count (as in Microsoft's
/// exporter); the result is clamped to [`MAX_RETRY_AFTER`]. Never panics.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    let d = if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX))
    } else {
        let at = parse_http_date(v)?;
        at.duration_since(now).ok()?
    };
    if d.is_zero() {
        return None;
    }
    Some(d.min(MAX_RETRY_AFTER))
}

/// Parses an HTTP date in any of the three forms RFC 9110 asks recipients to accept
/// (IMF-fixdate `Sun, 06 Nov 1994 08:49:37 GMT`, RFC 850, asctime).
pub fn parse_http_date(v: &str) -> Option<SystemTime> {
    httpdate::parse_http_date(v.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("2", now), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after("0", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(MAX_RETRY_AFTER)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:30 GMT", now),
            None
        );
        assert_eq!(parse_retry_after("tomorrow", now), None);
    }

    #[test]
    fn statuses() {
        let now = SystemTime::now();
        let c = |s, ra: Option<&str>, body: &str| classify(s, ra, None, body.as_bytes(), now);
        assert_eq!(c(200, None, ""), Answer::Accepted);
        assert_eq!(c(200, None, "not json"), Answer::Accepted);
        for s in [403, 408, 429, 500, 502, 503, 504] {
            assert!(
                matches!(
                    c(s, None, ""),
                    Answer::Retry {
                        unauthorized: false,
                        ..
                    }
                ),
                "{s}"
            );
        }
        assert!(matches!(
            c(401, None, ""),
            Answer::Retry {
                unauthorized: true,
                ..
            }
        ));
        assert_eq!(c(402, None, ""), Answer::Drop(DropReason::Quota));
        assert_eq!(c(439, None, ""), Answer::Drop(DropReason::Quota));
        assert!(matches!(c(439, Some("5"), ""), Answer::Retry { .. }));
        assert_eq!(c(400, None, ""), Answer::Drop(DropReason::Rejected));
        assert_eq!(c(404, None, ""), Answer::Drop(DropReason::Rejected));
        let body = r#"{"itemsReceived":4,"itemsAccepted":1,"errors":[
            {"index":1,"statusCode":500,"message":"x"},
            {"index":2,"statusCode":400,"message":"Telemetry sampled out."},
            {"index":3,"statusCode":400,"message":"bad"}]}"#;
        assert_eq!(
            c(206, Some("3"), body),
            Answer::Partial {
                retry: vec![1],
                rejected: vec![3],
                sampled_out: vec![2],
                retry_after: Some(Duration::from_secs(3))
            }
        );
    }
}

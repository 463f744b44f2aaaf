//! The connectivity check: one empty export per enabled signal, from the caller's thread.

use crate::answers::{grpc_words, status_words};
use crate::config::{signal_name, Protocol, Signal};
use crate::guard::OtlpGuard;
use crate::pipeline::Endpoint;
use std::fmt;
use tracing_insights_export::redirect::mask_url;
use tracing_insights_export::transport::Request;
use tracing_insights_export::{Body, RequestAuth, Response};

impl OtlpGuard {
    /// Sends one empty export request per enabled signal, now, from this thread, and
    /// reports each HTTP status in words: the way to see a wrong path (404), a missing key
    /// (401) or a receiver that does not take a signal (405), which exports otherwise only
    /// report at shutdown.
    pub fn check(&self) -> CheckReport {
        let _g = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
        let mut results = Vec::new();
        for ep in &self.endpoints {
            // A request with no resource at all: the smallest valid export of each signal.
            let outcome = match ep
                .empty_body()
                .and_then(|b| check_once(ep, &b, self.auth.as_deref()))
            {
                Ok(r) if accepted(&r) => CheckOutcome::Accepted { status: r.status },
                Ok(r) => CheckOutcome::Rejected {
                    status: r.status,
                    words: match &r.grpc {
                        Some((code, message)) => grpc_words(*code, r.status, message),
                        None => status_words(r.status),
                    },
                },
                Err(e) => CheckOutcome::Unreachable(e),
            };
            results.push(CheckResult {
                signal: ep.signal,
                url: mask_url(&ep.url),
                outcome,
            });
        }
        CheckReport { results }
    }
}

/// One check request. gRPC runs on a thread of its own: the caller may be inside a tokio
/// runtime, where our private runtime must not block.
fn check_once(
    ep: &Endpoint,
    body: &Body,
    auth: Option<&dyn RequestAuth>,
) -> Result<Response, String> {
    let send = || {
        let authorization = auth
            .map(|a| a.authorization().map_err(|e| format!("no token: {e}")))
            .transpose()?;
        let mut transport = ep.transport()?;
        transport.send(&Request {
            url: &ep.url,
            headers: &ep.headers,
            authorization: authorization.as_deref(),
            body,
            timeout: ep.timeout,
        })
    };
    if ep.protocol != Protocol::Grpc {
        return send();
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = tracing::subscriber::set_default(tracing::subscriber::NoSubscriber::default());
            send()
        })
        .join()
        .unwrap_or_else(|_| Err("the check thread failed".into()))
    })
}

/// A 2xx answer (gRPC: status OK).
fn accepted(r: &Response) -> bool {
    match &r.grpc {
        Some((code, _)) => *code == 0,
        None => (200..300).contains(&r.status),
    }
}

/// The answer to [`OtlpGuard::check`]: one line per enabled signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    /// One result per enabled signal.
    pub results: Vec<CheckResult>,
}

impl CheckReport {
    /// Whether every signal's empty export was accepted (2xx).
    pub fn is_ok(&self) -> bool {
        self.results
            .iter()
            .all(|r| matches!(r.outcome, CheckOutcome::Accepted { .. }))
    }

    /// The result for one signal.
    pub fn get(&self, signal: Signal) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.signal == signal)
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.results.is_empty() {
            return f.write_str("OTLP export is disabled");
        }
        for (i, r) in self.results.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// One signal's connectivity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The signal.
    pub signal: Signal,
    /// Where it was sent (credentials in the URL masked).
    pub url: String,
    /// What came back.
    pub outcome: CheckOutcome,
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} → {}: ", signal_name(self.signal), self.url)?;
        match &self.outcome {
            CheckOutcome::Accepted { status } => {
                write!(f, "{} (accepted)", status_words(*status))
            }
            CheckOutcome::Rejected { words, .. } => f.write_str(words),
            CheckOutcome::Unreachable(e) => write!(f, "unreachable: {e}"),
        }
    }
}

/// What an empty export got.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckOutcome {
    /// A 2xx answer.
    Accepted {
        /// The status.
        status: u16,
    },
    /// Any other answer.
    Rejected {
        /// The status.
        status: u16,
        /// The status in words, with a hint.
        words: String,
    },
    /// No HTTP answer (connection refused, DNS, timeout).
    Unreachable(String),
}

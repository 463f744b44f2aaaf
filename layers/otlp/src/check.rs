//! The connectivity check: one empty export per enabled signal, all at once, within a
//! few seconds.

use crate::answers::{grpc_words, status_words};
use crate::config::{signal_name, Protocol, Signal};
use crate::guard::OtlpGuard;
use crate::pipeline::Endpoint;
use std::fmt;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use tracing_insights_export::redirect::mask_url;
use tracing_insights_export::transport::Request;
use tracing_insights_export::{Body, RequestAuth, Response};

/// How long [`OtlpGuard::check`] waits for all its signals: each request's own timeout is
/// capped at this too, and the signals are checked at once, so a receiver that accepts the
/// connection and never answers costs this long, not a request timeout per signal.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

impl OtlpGuard {
    /// Sends one empty export request per enabled signal, now, all signals at once, and
    /// reports each answer in words: the way to see a wrong path (404), a missing key (401)
    /// or a receiver that does not take a signal (405), which exports otherwise only report
    /// at shutdown. Returns within 3 s whatever the endpoint does: a
    /// signal with no answer by then is reported as unreachable, "no answer within 3s".
    pub fn check(&self) -> CheckReport {
        run_check(&self.endpoints, self.auth.as_ref())
    }

    /// Runs [`check`](Self::check) on a thread of its own and hands the report to `report`
    /// there (within about 3 s): for start-up, where the application must not wait. The
    /// thread runs under no subscriber, so what `report` logs with `tracing` goes nowhere:
    /// print it.
    pub fn check_in_background(&self, report: impl FnOnce(CheckReport) + Send + 'static) {
        let (endpoints, auth) = (self.endpoints.clone(), self.auth.clone());
        let _ = std::thread::Builder::new()
            .name("tracing-insights-otlp-check".into())
            .spawn(move || {
                let _g = tracing::dispatcher::set_default(&tracing::Dispatch::none());
                report(run_check(&endpoints, auth.as_ref()));
            });
    }
}

/// Checks every endpoint at once, within [`CHECK_TIMEOUT`].
fn run_check(endpoints: &[Endpoint], auth: Option<&Arc<dyn RequestAuth>>) -> CheckReport {
    let deadline = Instant::now() + CHECK_TIMEOUT;
    let (tx, rx) = mpsc::channel();
    let mut outcomes: Vec<Option<CheckOutcome>> = vec![None; endpoints.len()];
    for (i, ep) in endpoints.iter().enumerate() {
        let (tx, ep, auth) = (tx.clone(), ep.clone(), auth.cloned());
        // Detached, not scoped: a request that hangs past the deadline is left to end
        // on its own thread rather than hold the caller.
        let spawned = std::thread::Builder::new()
            .name("tracing-insights-otlp-check".into())
            .spawn(move || {
                let _g = tracing::dispatcher::set_default(&tracing::Dispatch::none());
                let outcome = check_signal(&ep, auth.as_deref());
                let _ = tx.send((i, outcome));
            });
        if let Err(e) = spawned {
            outcomes[i] = Some(CheckOutcome::Unreachable(format!(
                "could not start a thread: {e}"
            )));
        }
    }
    drop(tx);
    while outcomes.iter().any(Option::is_none) {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok((i, outcome)) => outcomes[i] = Some(outcome),
            Err(_) => break,
        }
    }
    let results = endpoints
            .iter()
            .zip(outcomes)
            .map(|(ep, outcome)| CheckResult {
                signal: ep.signal,
                url: mask_url(&ep.url),
                outcome: outcome.unwrap_or_else(|| {
                    CheckOutcome::Unreachable(format!(
                        "no answer within {CHECK_TIMEOUT:?} (the endpoint took the connection but did not reply)"
                    ))
                }),
            })
            .collect();
    CheckReport { results }
}

/// One signal's empty export and its answer in words.
fn check_signal(ep: &Endpoint, auth: Option<&dyn RequestAuth>) -> CheckOutcome {
    // A request with no resource at all: the smallest valid export of each signal.
    match ep.empty_body().and_then(|b| check_once(ep, &b, auth)) {
        Ok(r) if accepted(&r) => CheckOutcome::Accepted { status: r.status },
        Ok(r) => CheckOutcome::Rejected {
            status: r.status,
            words: match &r.grpc {
                Some((code, message)) => grpc_words(*code, r.status, message),
                None => status_words(r.status),
            },
        },
        Err(e) => CheckOutcome::Unreachable(in_words(&e, ep.timeout)),
    }
}

/// The HTTP client's error in words: its timeouts say `timeout: global` and the like.
fn in_words(e: &str, timeout: Option<Duration>) -> String {
    if e.contains("timeout") || e.contains("timed out") {
        let t = capped(timeout);
        return format!("no answer within {t:?} (the endpoint is slow or does not reply)");
    }
    if e.contains("refused") {
        return format!("connection refused: nothing listens there ({e})");
    }
    e.to_owned()
}

/// The request timeout, at most [`CHECK_TIMEOUT`] (none or zero: no limit of its own).
fn capped(timeout: Option<Duration>) -> Duration {
    match timeout {
        Some(t) if !t.is_zero() => t.min(CHECK_TIMEOUT),
        _ => CHECK_TIMEOUT,
    }
}

/// One check request, its timeout capped at [`CHECK_TIMEOUT`]. gRPC runs on a thread of
/// its own: the caller may be inside a tokio runtime, where our private runtime must not
/// block.
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
            method: tracing_insights_export::Method::Post,
            url: &ep.url,
            headers: &ep.headers,
            authorization: authorization.as_deref(),
            body,
            timeout: Some(capped(ep.timeout)),
        })
    };
    if ep.protocol != Protocol::Grpc {
        return send();
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            let _g = tracing::dispatcher::set_default(&tracing::Dispatch::none());
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

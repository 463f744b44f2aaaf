//! The QuickPulse control loop over an injectable [`Clock`] and
//! [`Transport`]: ping until somebody watches, post every second while they do.

// Items re-exported by the `testing` module are `pub`; without that feature only the
// crate reaches them, and the accessors only the tests call are unused.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use serde_json::{json, Map, Value};
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tracing_insights_azure::BearerAuth;
use tracing_insights_correlation::Resource;

use crate::clock::Clock;
use crate::collector::{Collector, Counts};
use crate::config::CollectionConfig;
use crate::perf::ProcessStats;
use crate::protocol::{self, dotnet_ticks, redirect_target, rfc3339_micros};
use crate::transport::{CallKind, QpsRequest, QpsResponse, Transport};

/// Ping interval before anybody has watched for a while.
pub const SHORT_PING_INTERVAL: Duration = Duration::from_secs(5);
/// Ping interval after 60 s without a subscription (and no interval hint from the service).
pub const LONG_PING_INTERVAL: Duration = Duration::from_secs(60);
/// How long pings stay short.
pub const SHORT_PING_PERIOD: Duration = Duration::from_secs(60);
/// Post interval while subscribed.
pub const POST_INTERVAL: Duration = Duration::from_secs(1);
/// How long posts may fail before the loop goes back to pinging.
pub const POST_FAILURE_PERIOD: Duration = Duration::from_secs(20);

/// Where the loop is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiveState {
    /// Nobody watches: ping every 5 s (or as the service hints), every 60 s after a minute.
    Pinging,
    /// Somebody watches: post a data point every second.
    Posting,
}

/// Counters of what the loop did, for tests and diagnostics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ControllerStats {
    /// Pings sent.
    pub pings: u64,
    /// Posts sent.
    pub posts: u64,
    /// Calls that failed (transport error, non-200, missing token).
    pub failures: u64,
    /// Redirects followed.
    pub redirects_followed: u64,
    /// Redirects refused (not https, or a host off the allowed suffixes).
    pub redirects_refused: u64,
    /// Collection configurations applied.
    pub configurations_applied: u64,
    /// Documents not kept (per-second bound reached, or the buffer busy).
    pub documents_dropped: u64,
}

impl Identity {
    /// `RoleName` and `Instance` from a resource, as Application Insights names them
    /// (`namespace.name`; `service.instance.id`, else the machine name).
    pub(crate) fn set_resource(&mut self, resource: &Resource) {
        self.role_name = match (resource.service_namespace(), resource.service_name()) {
            (Some(ns), Some(name)) => format!("{ns}.{name}"),
            (None, Some(name)) => name.to_owned(),
            (Some(ns), None) => ns.to_owned(),
            (None, None) => String::new(),
        };
        self.instance = resource
            .service_instance_id()
            .map_or_else(|| self.machine_name.clone(), str::to_owned);
    }
}

/// Who this process is, as every ping and post says.
#[derive(Debug, Clone)]
pub(crate) struct Identity {
    pub(crate) version: String,
    pub(crate) instance: String,
    pub(crate) role_name: String,
    pub(crate) machine_name: String,
    pub(crate) stream_id: String,
    pub(crate) is_web_app: bool,
}

/// The QuickPulse control loop. The layer's worker thread calls [`Controller::poll`] and
/// sleeps for what it returns; tests do the same with a [`ManualClock`](crate::clock::ManualClock), advancing
/// it instead of sleeping.
pub struct Controller {
    clock: Arc<dyn Clock>,
    transport: Box<dyn Transport>,
    collector: Arc<Collector>,
    ikey: String,
    base: String,
    token: Option<Arc<BearerAuth>>,
    ident: Arc<Mutex<Identity>>,
    state: LiveState,
    etag: String,
    next_due: Duration,
    ping_since: Duration,
    last_post_ok: Duration,
    last_collect: Duration,
    hint: Option<Duration>,
    perf: ProcessStats,
    stats: ControllerStats,
}

impl fmt::Debug for Controller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Controller")
            .field("endpoint", &self.base)
            .field("state", &self.state)
            .field("etag", &self.etag)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Controller {
    pub(crate) fn new(
        clock: Arc<dyn Clock>,
        transport: Box<dyn Transport>,
        collector: Arc<Collector>,
        ikey: String,
        base: String,
        token: Option<Arc<BearerAuth>>,
        ident: Arc<Mutex<Identity>>,
    ) -> Self {
        let now = clock.elapsed();
        Self {
            clock,
            transport,
            collector,
            ikey,
            base: base.trim_end_matches('/').to_owned(),
            token,
            ident,
            state: LiveState::Pinging,
            etag: String::new(),
            next_due: now,
            ping_since: now,
            last_post_ok: now,
            last_collect: now,
            hint: None,
            perf: ProcessStats::new(),
            stats: ControllerStats::default(),
        }
    }

    /// Pings or posts if one is due, and returns how long to wait before calling again.
    pub fn poll(&mut self) -> Duration {
        let now = self.clock.elapsed();
        if now >= self.next_due {
            match self.state {
                LiveState::Pinging => self.ping(now),
                LiveState::Posting => self.post(now),
            }
        }
        self.next_due.saturating_sub(self.clock.elapsed())
    }

    /// Where the loop is.
    pub fn state(&self) -> LiveState {
        self.state
    }

    /// The endpoint calls go to (`scheme://host[:port]`, after any accepted redirect).
    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// The etag of the applied collection configuration (empty when none).
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// What the loop has done so far.
    pub fn stats(&self) -> ControllerStats {
        ControllerStats {
            documents_dropped: self.collector.documents_dropped(),
            ..self.stats
        }
    }

    /// Stops collecting (the layer goes back to one atomic load per span).
    pub(crate) fn stop(&mut self) {
        self.collector.set_collecting(false);
    }

    fn url(&self, kind: CallKind) -> String {
        let path = match kind {
            CallKind::Ping => "ping",
            CallKind::Post => "post",
        };
        format!(
            "{}/QuickPulseService.svc/{path}?api-version={}&ikey={}",
            self.base,
            protocol::API_VERSION,
            self.ikey
        )
    }

    /// A failed call on the exporters' diagnostics channel (rate-limited there), with the
    /// service's base URL and the cause; the instrumentation key is never shown.
    fn diagnose(&self, call: &str, result: &Result<QpsResponse, String>) {
        let cause = match result {
            Ok(r) => format!("HTTP {}", r.status),
            Err(e) => e.replace(self.ikey.as_str(), "***"),
        };
        tracing_insights_export::diagnostics::report(
            "live-metrics",
            "failed",
            "calls failed",
            &format!("{call}: {cause} ({})", self.base),
        );
    }

    /// Who we are now (the layer may adopt the correlation layer's resource after start).
    fn identity(&self) -> Identity {
        self.ident
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn identity_json(&self) -> Map<String, Value> {
        let i = &self.identity();
        let mut m = Map::new();
        m.insert("Version".into(), json!(i.version));
        m.insert(
            "InvariantVersion".into(),
            json!(protocol::INVARIANT_VERSION),
        );
        m.insert("Instance".into(), json!(i.instance));
        m.insert("RoleName".into(), json!(i.role_name));
        m.insert("MachineName".into(), json!(i.machine_name));
        m.insert("StreamId".into(), json!(i.stream_id));
        m.insert("IsWebApp".into(), json!(i.is_web_app));
        m.insert("PerformanceCollectionSupported".into(), json!(true));
        m
    }

    fn send(&mut self, kind: CallKind, body: Value) -> Result<QpsResponse, String> {
        let ticks = dotnet_ticks(self.clock.now()).to_string();
        let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
        match kind {
            CallKind::Ping => {
                let i = &self.identity();
                headers.extend([
                    (protocol::H_TRANSMISSION_TIME.to_owned(), ticks),
                    (protocol::H_MACHINE_NAME.to_owned(), i.machine_name.clone()),
                    (protocol::H_INSTANCE_NAME.to_owned(), i.instance.clone()),
                    (protocol::H_STREAM_ID.to_owned(), i.stream_id.clone()),
                    (protocol::H_ROLE_NAME.to_owned(), i.role_name.clone()),
                    (
                        protocol::H_INVARIANT_VERSION.to_owned(),
                        protocol::INVARIANT_VERSION.to_string(),
                    ),
                    (protocol::H_CONFIGURATION_ETAG.to_owned(), self.etag.clone()),
                ]);
            }
            CallKind::Post => headers.extend([
                (protocol::H_CONFIGURATION_ETAG.to_owned(), self.etag.clone()),
                (protocol::H_TRANSMISSION_TIME.to_owned(), ticks),
            ]),
        }
        if let Some(t) = &self.token {
            // Cached until near expiry by the shared Azure bearer auth (the same cache rules
            // as the ingestion exporter).
            let token = t.token().map_err(|e| format!("no Entra ID token: {e}"))?;
            headers.push((
                "authorization".to_owned(),
                format!("Bearer {}", token.secret()),
            ));
        }
        let request = QpsRequest {
            kind,
            url: self.url(kind),
            headers,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        };
        match kind {
            CallKind::Ping => self.stats.pings += 1,
            CallKind::Post => self.stats.posts += 1,
        }
        self.transport.send(&request)
    }

    /// Reads the headers every 200 answer may carry: redirect and polling hint.
    fn read_common(&mut self, resp: &QpsResponse) {
        if let Some(r) = resp.header(protocol::H_ENDPOINT_REDIRECT) {
            match redirect_target(r) {
                Some(base) => {
                    self.stats.redirects_followed += 1;
                    self.base = base;
                }
                None => self.stats.redirects_refused += 1,
            }
        }
        self.hint = resp
            .header(protocol::H_POLLING_INTERVAL_HINT)
            .and_then(|h| h.trim().parse::<u64>().ok())
            .filter(|ms| *ms > 0)
            .map(|ms| {
                Duration::from_millis(ms).clamp(Duration::from_secs(1), Duration::from_secs(300))
            });
    }

    fn ping_interval(&self, now: Duration) -> Duration {
        match self.hint {
            Some(h) => h,
            None if now.saturating_sub(self.ping_since) >= SHORT_PING_PERIOD => LONG_PING_INTERVAL,
            None => SHORT_PING_INTERVAL,
        }
    }

    fn apply_config(&mut self, etag: &str, body: &[u8]) {
        if body.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        if !v.is_object() {
            return;
        }
        self.collector.set_config(CollectionConfig::parse(&v, etag));
        self.etag = etag.to_owned();
        self.stats.configurations_applied += 1;
    }

    fn ping(&mut self, now: Duration) {
        let body = Value::Object(self.identity_json());
        match self.send(CallKind::Ping, body) {
            Ok(resp) if resp.status == 200 => {
                self.read_common(&resp);
                if resp.header(protocol::H_SUBSCRIBED) == Some("true") {
                    let etag = resp
                        .header(protocol::H_CONFIGURATION_ETAG)
                        .unwrap_or("")
                        .to_owned();
                    self.enter_post(now, &etag, &resp.body);
                    return;
                }
                self.etag.clear();
            }
            other => {
                self.stats.failures += 1;
                self.diagnose("ping", &other);
                self.hint = None;
            }
        }
        self.next_due = now + self.ping_interval(now);
    }

    fn enter_post(&mut self, now: Duration, etag: &str, body: &[u8]) {
        self.state = LiveState::Posting;
        self.etag = etag.to_owned();
        self.apply_config(etag, body);
        self.last_post_ok = now;
        self.last_collect = now;
        let _ = self.perf.sample(now);
        self.collector.set_collecting(true);
        self.next_due = now + POST_INTERVAL;
    }

    fn leave_post(&mut self, now: Duration) {
        self.state = LiveState::Pinging;
        self.ping_since = now;
        self.etag.clear();
        self.collector.set_collecting(false);
        self.collector.set_config(CollectionConfig::default());
        self.next_due = now + self.ping_interval(now);
    }

    fn data_point(&mut self, now: Duration) -> Value {
        let counts = self.collector.take_counts();
        let documents = self.collector.take_documents();
        let config = self.collector.config();
        let derived = config.take_metrics();
        let perf = self.perf.sample(now);
        let interval = now.saturating_sub(self.last_collect).as_secs_f64();
        self.last_collect = now;
        let mut metrics = standard_metrics(&counts, interval);
        if let Some(rss) = perf.rss {
            metrics.push(metric("\\Memory\\Committed Bytes", rss as f64));
            metrics.push(metric("\\Process\\Physical Bytes", rss as f64));
        }
        if let Some(cpu) = perf.cpu_percent {
            metrics.push(metric("\\Processor(_Total)\\% Processor Time", cpu));
            metrics.push(metric("\\% Process\\Processor Time Normalized", cpu));
        }
        metrics.extend(derived.into_iter().map(|(id, v)| metric(&id, v)));
        let mut m = self.identity_json();
        m.insert("Timestamp".into(), json!(rfc3339_micros(self.clock.now())));
        m.insert("Metrics".into(), Value::Array(metrics));
        m.insert("Documents".into(), Value::Array(documents));
        if !config.errors.is_empty() {
            m.insert(
                "CollectionConfigurationErrors".into(),
                Value::Array(config.errors.clone()),
            );
        }
        json!([Value::Object(m)])
    }

    fn post(&mut self, now: Duration) {
        let body = self.data_point(now);
        let sent_etag = self.etag.clone();
        self.next_due = (self.next_due + POST_INTERVAL).max(now);
        match self.send(CallKind::Post, body) {
            Ok(resp) if resp.status == 200 => {
                self.read_common(&resp);
                if resp.header(protocol::H_SUBSCRIBED) != Some("true") {
                    // Nobody watches any more: stop collecting now.
                    self.leave_post(now);
                    return;
                }
                self.last_post_ok = now;
                let etag = resp
                    .header(protocol::H_CONFIGURATION_ETAG)
                    .unwrap_or("")
                    .to_owned();
                if etag != sent_etag {
                    self.apply_config(&etag, &resp.body);
                }
            }
            other => {
                self.stats.failures += 1;
                self.diagnose("post", &other);
                if now.saturating_sub(self.last_post_ok) >= POST_FAILURE_PERIOD {
                    self.hint = None;
                    self.leave_post(now);
                }
            }
        }
    }
}

fn metric(name: &str, value: f64) -> Value {
    json!({"Name": name, "Value": value, "Weight": 1})
}

/// The `\ApplicationInsights\...` metrics. Counters with nothing to count and averages with
/// nothing to average are left out, as Microsoft's exporter does. Rates are per second of
/// the actual interval; durations are in milliseconds.
fn standard_metrics(c: &Counts, interval_secs: f64) -> Vec<Value> {
    let per_sec = |n: u64| {
        if interval_secs > 0.0 {
            n as f64 / interval_secs
        } else {
            n as f64
        }
    };
    let mut out = Vec::new();
    let requests = c.requests + c.requests_failed;
    let dependencies = c.dependencies + c.dependencies_failed;
    let mut push = |name: &str, n: u64, v: f64| {
        if n > 0 {
            out.push(metric(name, v));
        }
    };
    push(
        "\\ApplicationInsights\\Requests/Sec",
        requests,
        per_sec(requests),
    );
    push(
        "\\ApplicationInsights\\Requests Failed/Sec",
        c.requests_failed,
        per_sec(c.requests_failed),
    );
    push(
        "\\ApplicationInsights\\Request Duration",
        requests,
        c.request_ms_sum / requests.max(1) as f64,
    );
    push(
        "\\ApplicationInsights\\Dependency Calls/Sec",
        dependencies,
        per_sec(dependencies),
    );
    push(
        "\\ApplicationInsights\\Dependency Calls Failed/Sec",
        c.dependencies_failed,
        per_sec(c.dependencies_failed),
    );
    push(
        "\\ApplicationInsights\\Dependency Call Duration",
        dependencies,
        c.dependency_ms_sum / dependencies.max(1) as f64,
    );
    push(
        "\\ApplicationInsights\\Exceptions/Sec",
        c.exceptions,
        per_sec(c.exceptions),
    );
    out
}

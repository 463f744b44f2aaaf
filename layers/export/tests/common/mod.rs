//! A loopback ingestion server that answers from a script and records what it received.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_insights_testing::http::{self, LoopbackServer, Request};

/// One scripted answer.
#[derive(Clone, Debug, Default)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Per-item errors `(index, statusCode, message)` put in the JSON body.
    pub errors: Vec<(usize, u16, String)>,
    /// `Location`; `{self}` is replaced by this server's origin.
    pub location: Option<String>,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            ..Reply::default()
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.into(), v.into()));
        self
    }

    pub fn error(mut self, index: usize, status: u16, message: &str) -> Self {
        self.errors.push((index, status, message.into()));
        self
    }

    pub fn location(mut self, l: &str) -> Self {
        self.location = Some(l.into());
        self
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub at: Instant,
    pub status: u16,
    /// The JSON array's string items, in order.
    pub names: Vec<String>,
    /// The items this answer accepted.
    pub accepted: Vec<String>,
    pub authorization: Option<String>,
}

#[derive(Clone)]
pub struct Server {
    pub origin: String,
    pub url: String,
    pub port: u16,
    script: Arc<Mutex<VecDeque<Reply>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    pub fn start() -> Server {
        Self::on(None)
    }

    /// A server on a given port (a service that comes back after an outage).
    pub fn start_on(port: u16) -> Server {
        Self::on(Some(port))
    }

    fn on(port: Option<u16>) -> Server {
        let script: Arc<Mutex<VecDeque<Reply>>> = Arc::default();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let origin: Arc<Mutex<String>> = Arc::default();
        let (sc, se, o) = (script.clone(), seen.clone(), origin.clone());
        let respond = move |r: &Request| answer(r, &sc, &se, &o.lock().unwrap());
        let http = match port {
            Some(p) => LoopbackServer::start_on(p, respond),
            None => LoopbackServer::start(respond),
        };
        origin.lock().unwrap().clone_from(&http.origin);
        Server {
            url: http.url("/v2.1/track"),
            origin: http.origin.clone(),
            port: http.port,
            script,
            seen,
        }
    }

    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.lock().unwrap().extend(replies);
    }

    /// From now on every answer is 200.
    pub fn heal(&self) {
        self.script.lock().unwrap().clear();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Every accepted item but the batch prefix `_R_`.
    pub fn delivered(&self) -> Vec<String> {
        self.seen()
            .into_iter()
            .flat_map(|s| s.accepted)
            .filter(|n| n != "_R_")
            .collect()
    }
}

/// Answers one ingestion request from the script: the status, its headers and a body with
/// the scripted per-item errors; records what was seen and accepted.
fn answer(
    r: &Request,
    script: &Mutex<VecDeque<Reply>>,
    seen: &Mutex<Vec<Seen>>,
    origin: &str,
) -> http::Reply {
    let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&r.body)
        .unwrap()
        .into_iter()
        .map(|v| v.as_str().unwrap_or("?").to_owned())
        .collect();
    let reply = script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Reply::status(200));
    let accepted = if (200..300).contains(&reply.status) {
        names
            .iter()
            .enumerate()
            .filter(|(i, _)| !reply.errors.iter().any(|e| e.0 == *i))
            .map(|(_, n)| n.clone())
            .collect()
    } else {
        Vec::new()
    };
    seen.lock().unwrap().push(Seen {
        at: r.at,
        status: reply.status,
        names: names.clone(),
        accepted,
        authorization: r.header("authorization").map(str::to_owned),
    });
    let errors: Vec<serde_json::Value> = reply
        .errors
        .iter()
        .map(|(i, s, m)| serde_json::json!({"index": i, "statusCode": s, "message": m}))
        .collect();
    let body = serde_json::json!({
        "itemsReceived": names.len(),
        "itemsAccepted": names.len() - errors.len(),
        "errors": errors,
    })
    .to_string();
    let mut out = http::Reply::status(reply.status)
        .header("content-type", "application/json")
        .body(body);
    for (k, v) in &reply.headers {
        out = out.header(k, v);
    }
    if let Some(l) = &reply.location {
        out = out.header("location", &l.replace("{self}", origin));
    }
    out
}

pub use tracing_insights_testing::http::closed_port;

/// A fresh directory under the OS temp dir.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "tis-export-{tag}-{}-{}",
        std::process::id(),
        fastrand::u64(..)
    ));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// Waits until `f` holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Formats Unix seconds as an IMF-fixdate (weekday included, as servers send it).
pub fn http_date(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    // Civil from days (Howard Hinnant).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{weekday}, {d:02} {month} {y} {:02}:{:02}:{:02} GMT",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

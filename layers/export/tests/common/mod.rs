//! A loopback ingestion server that answers from a script and records what it received.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// A server on a given port (a service that comes back after an outage).
    pub fn start_on(port: u16) -> Server {
        let t0 = Instant::now();
        loop {
            match TcpListener::bind(("127.0.0.1", port)) {
                Ok(l) => return Self::on(l),
                Err(e) if t0.elapsed() > Duration::from_secs(3) => panic!("bind {port}: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    fn on(listener: TcpListener) -> Server {
        let port = listener.local_addr().unwrap().port();
        let origin = format!("http://127.0.0.1:{port}");
        let server = Server {
            url: format!("{origin}/v2.1/track"),
            origin,
            port,
            script: Arc::default(),
            seen: Arc::default(),
        };
        let s = server.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let s = s.clone();
                std::thread::spawn(move || s.serve(stream));
            }
        });
        server
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

    fn serve(&self, stream: TcpStream) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut stream = stream;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let (mut len, mut gz, mut auth) = (0usize, false, None);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
                if h == "\r\n" {
                    break;
                }
                let lower = h.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if lower.starts_with("content-encoding:") && lower.contains("gzip") {
                    gz = true;
                }
                if lower.starts_with("authorization:") {
                    auth = Some(h.split_once(':').unwrap().1.trim().to_owned());
                }
            }
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let json = if gz {
                let mut s = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut s)
                    .unwrap();
                s
            } else {
                body
            };
            let names: Vec<String> = serde_json::from_slice::<Vec<serde_json::Value>>(&json)
                .unwrap()
                .into_iter()
                .map(|v| v.as_str().unwrap_or("?").to_owned())
                .collect();
            let reply = self
                .script
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
            self.seen.lock().unwrap().push(Seen {
                at: Instant::now(),
                status: reply.status,
                names: names.clone(),
                accepted,
                authorization: auth,
            });
            let errors: Vec<serde_json::Value> = reply
                .errors
                .iter()
                .map(|(i, s, m)| serde_json::json!({"index": i, "statusCode": s, "message": m}))
                .collect();
            let answer = serde_json::json!({
                "itemsReceived": names.len(),
                "itemsAccepted": names.len() - errors.len(),
                "errors": errors,
            })
            .to_string();
            let mut resp = format!(
                "HTTP/1.1 {} X\r\ncontent-type: application/json\r\n",
                reply.status
            );
            for (k, v) in &reply.headers {
                resp.push_str(&format!("{k}: {v}\r\n"));
            }
            if let Some(l) = &reply.location {
                resp.push_str(&format!(
                    "location: {}\r\n",
                    l.replace("{self}", &self.origin)
                ));
            }
            resp.push_str(&format!("content-length: {}\r\n\r\n{answer}", answer.len()));
            if stream.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// A port with nothing listening on it.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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

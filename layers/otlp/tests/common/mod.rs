//! A loopback OTLP/HTTP receiver for tests: records every request (path, headers, body
//! after gunzip) and answers scripted statuses. Decoding uses the same prost types.
#![allow(dead_code, unreachable_pub)]

use prost::Message as _;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing_insights_otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use tracing_insights_otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use tracing_insights_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracing_insights_otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use tracing_insights_otlp::proto::logs::v1::LogRecord;
use tracing_insights_otlp::proto::metrics::v1::Metric;
use tracing_insights_otlp::proto::trace::v1::Span;

#[derive(Debug, Clone)]
pub struct Request {
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body after `Content-Encoding: gzip` was undone.
    pub body: Vec<u8>,
    pub gzipped: bool,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn is_json(&self) -> bool {
        self.header("content-type") == Some("application/json")
    }
}

#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    requests: Arc<Mutex<Vec<Request>>>,
    /// Scripted answers `(status, Retry-After)`; 200 when empty.
    script: Arc<Mutex<VecDeque<(u16, Option<u64>)>>>,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script: Arc<Mutex<VecDeque<(u16, Option<u64>)>>> = Arc::default();
        let (r, s) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || serve(stream, r, s));
            }
        });
        Self {
            base,
            requests,
            script,
        }
    }

    pub fn answer(&self, status: u16, retry_after: Option<u64>) {
        self.script.lock().unwrap().push_back((status, retry_after));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    pub fn on(&self, path: &str) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }

    /// Waits until `f` holds for the requests (up to 10 s).
    pub fn wait_for(&self, f: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let reqs = self.requests();
            if f(&reqs) || Instant::now() > until {
                return reqs;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn spans(&self) -> Vec<Span> {
        self.on("/v1/traces")
            .iter()
            .flat_map(|r| decode_traces(r).resource_spans)
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .collect()
    }

    pub fn logs(&self) -> Vec<LogRecord> {
        self.on("/v1/logs")
            .iter()
            .flat_map(|r| decode_logs(r).resource_logs)
            .flat_map(|rl| rl.scope_logs)
            .flat_map(|sl| sl.log_records)
            .collect()
    }

    pub fn metrics(&self) -> Vec<Metric> {
        self.on("/v1/metrics")
            .iter()
            .flat_map(|r| decode_metrics(r).resource_metrics)
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .collect()
    }
}

pub fn decode_traces(r: &Request) -> ExportTraceServiceRequest {
    if r.is_json() {
        serde_json::from_slice(&r.body).unwrap()
    } else {
        ExportTraceServiceRequest::decode(&r.body[..]).unwrap()
    }
}

pub fn decode_logs(r: &Request) -> ExportLogsServiceRequest {
    if r.is_json() {
        serde_json::from_slice(&r.body).unwrap()
    } else {
        ExportLogsServiceRequest::decode(&r.body[..]).unwrap()
    }
}

pub fn decode_metrics(r: &Request) -> ExportMetricsServiceRequest {
    if r.is_json() {
        serde_json::from_slice(&r.body).unwrap()
    } else {
        ExportMetricsServiceRequest::decode(&r.body[..]).unwrap()
    }
}

pub fn attr<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a any_value::Value> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v: &AnyValue| v.value.as_ref())
}

pub fn attr_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match attr(attrs, key) {
        Some(any_value::Value::StringValue(s)) => Some(s),
        _ => None,
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn serve(
    stream: std::net::TcpStream,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<(u16, Option<u64>)>>>,
) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_owned();
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_owned(), v.trim().to_owned());
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.parse().unwrap_or(0);
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let gzipped = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("content-encoding") && v == "gzip");
        if gzipped {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .read_to_end(&mut out)
                .unwrap();
            body = out;
        }
        requests.lock().unwrap().push(Request {
            path,
            headers,
            body,
            gzipped,
        });
        let (status, retry_after) = script.lock().unwrap().pop_front().unwrap_or((200, None));
        let mut resp = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n");
        if let Some(s) = retry_after {
            resp.push_str(&format!("retry-after: {s}\r\n"));
        }
        resp.push_str("\r\n");
        if writer.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

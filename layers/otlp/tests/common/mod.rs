//! A loopback OTLP/HTTP receiver for tests: records every request (path, headers, body
//! after gunzip) and answers scripted statuses. Decoding uses the same prost types.
#![allow(dead_code, unreachable_pub)]

use prost::Message as _;
use std::time::Duration;
use tracing_insights_otlp::proto::collector::logs::v1::ExportLogsServiceRequest;
use tracing_insights_otlp::proto::collector::metrics::v1::ExportMetricsServiceRequest;
use tracing_insights_otlp::proto::collector::trace::v1::ExportTraceServiceRequest;
use tracing_insights_otlp::proto::common::v1::{any_value, AnyValue, KeyValue};
use tracing_insights_otlp::proto::logs::v1::LogRecord;
use tracing_insights_otlp::proto::metrics::v1::Metric;
use tracing_insights_otlp::proto::trace::v1::Span;

pub use tracing_insights_testing::http::Request;
use tracing_insights_testing::http::{LoopbackServer, Reply, Script};

pub fn is_json(r: &Request) -> bool {
    r.header("content-type") == Some("application/json")
}

/// A loopback OTLP/HTTP receiver: answers scripted statuses (200 once they run out).
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    pub server: LoopbackServer,
    pub script: Script,
}

impl Receiver {
    /// An OTLP layer builder that sends here: no environment variables, batches every
    /// 20 ms, metrics collected only at shutdown, three quick retries.
    pub fn builder(&self) -> tracing_insights_otlp::OtlpBuilder {
        tracing_insights_otlp::OtlpLayer::builder()
            .with_env(tracing_insights_otlp::EnvVars::empty())
            .with_endpoint(self.base.clone())
            .with_batch_delay(Duration::from_millis(20))
            .with_metric_interval(Duration::from_secs(3600))
            .with_retries(3, Duration::from_millis(5))
    }

    pub fn start() -> Self {
        let (server, script) = LoopbackServer::scripted();
        Self {
            base: server.origin.clone(),
            server,
            script,
        }
    }

    pub fn answer(&self, status: u16, retry_after: Option<u64>) {
        let mut reply = Reply::status(status);
        if let Some(s) = retry_after {
            reply = reply.header("retry-after", &s.to_string());
        }
        self.script.push([reply]);
    }

    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }

    pub fn on(&self, path: &str) -> Vec<Request> {
        self.server.on_path(path)
    }

    /// Waits until `f` holds for the requests (up to 10 s).
    pub fn wait_for(&self, f: impl Fn(&[Request]) -> bool) -> Vec<Request> {
        self.server.wait_for(Duration::from_secs(10), f)
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
    if is_json(r) {
        serde_json::from_slice(&r.body).unwrap()
    } else {
        ExportTraceServiceRequest::decode(&r.body[..]).unwrap()
    }
}

pub fn decode_logs(r: &Request) -> ExportLogsServiceRequest {
    if is_json(r) {
        serde_json::from_slice(&r.body).unwrap()
    } else {
        ExportLogsServiceRequest::decode(&r.body[..]).unwrap()
    }
}

pub fn decode_metrics(r: &Request) -> ExportMetricsServiceRequest {
    if is_json(r) {
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

//! What a span or an event becomes for Live Metrics: one [`Item`], the thing counters,
//! filters, derived metrics and documents all read.

use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::time::Duration;
use tracing_core::field::{Field, Visit};
use tracing_insights_azure::classify::{self, Kind, TelemetryType};
use tracing_insights_correlation::{ErrorValue, FieldValue, SpanKind};

use crate::protocol::iso8601_duration;

/// The telemetry types a collection configuration may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ItemType {
    Request,
    Dependency,
    Exception,
    Trace,
}

impl ItemType {
    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Request" => Self::Request,
            "Dependency" => Self::Dependency,
            "Exception" => Self::Exception,
            "Trace" => Self::Trace,
            _ => return None,
        })
    }
}

/// One request, dependency, exception or trace, as filters see it.
#[derive(Debug)]
pub(crate) struct Item<'a> {
    pub(crate) ty: ItemType,
    pub(crate) name: String,
    /// Request `Url`.
    pub(crate) url: Option<String>,
    /// Request `ResponseCode` / dependency `ResultCode`.
    pub(crate) code: Option<String>,
    pub(crate) duration: Duration,
    pub(crate) success: bool,
    /// Dependency `Target`, `Type`, `Data`.
    pub(crate) target: Option<String>,
    pub(crate) dep_type: Option<String>,
    pub(crate) data: Option<String>,
    /// Exception type / message / stack; trace message.
    pub(crate) exc_type: Option<String>,
    pub(crate) message: Option<String>,
    pub(crate) stack: Option<String>,
    /// The span's or event's other fields (`CustomDimensions.<key>`).
    pub(crate) dims: &'a [(&'static str, FieldValue)],
}

impl Item<'_> {
    pub(crate) fn duration_ms(&self) -> f64 {
        self.duration.as_secs_f64() * 1000.0
    }

    pub(crate) fn dim(&self, key: &str) -> Option<&FieldValue> {
        self.dims.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The document the portal shows for a sampled item, with Live Metrics' length limits.
    pub(crate) fn document(&self, stream_ids: &[&str]) -> Value {
        let mut d = Map::new();
        let s = |v: &Option<String>, max: usize| json!(truncate(v.as_deref().unwrap_or(""), max));
        match self.ty {
            ItemType::Request => {
                d.insert("DocumentType".into(), json!("Request"));
                d.insert("Name".into(), json!(truncate(&self.name, 1024)));
                d.insert("Url".into(), s(&self.url, 2048));
                d.insert("ResponseCode".into(), s(&self.code, 1024));
                d.insert("Duration".into(), json!(iso8601_duration(self.duration)));
            }
            ItemType::Dependency => {
                d.insert("DocumentType".into(), json!("RemoteDependency"));
                d.insert("Name".into(), json!(truncate(&self.name, 1024)));
                let command = self.data.clone().or_else(|| self.target.clone());
                d.insert("CommandName".into(), s(&command, 2048));
                d.insert("ResultCode".into(), s(&self.code, 1024));
                d.insert("Duration".into(), json!(iso8601_duration(self.duration)));
            }
            ItemType::Exception => {
                d.insert("DocumentType".into(), json!("Exception"));
                d.insert("ExceptionType".into(), s(&self.exc_type, 1024));
                d.insert("ExceptionMessage".into(), s(&self.message, 32768));
            }
            ItemType::Trace => {
                d.insert("DocumentType".into(), json!("Trace"));
                d.insert("Message".into(), s(&self.message, 32768));
            }
        }
        if !stream_ids.is_empty() {
            d.insert("DocumentStreamIds".into(), json!(stream_ids));
        }
        Value::Object(d)
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn kind(k: SpanKind) -> Kind {
    match k {
        SpanKind::Server => Kind::Server,
        SpanKind::Client => Kind::Client,
        SpanKind::Producer => Kind::Producer,
        SpanKind::Consumer => Kind::Consumer,
        SpanKind::Internal => Kind::Internal,
    }
}

fn get<'a>(fields: &'a [(&'static str, FieldValue)], keys: &[&str]) -> Option<&'a FieldValue> {
    keys.iter()
        .find_map(|k| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v))
}

fn get_str(fields: &[(&'static str, FieldValue)], keys: &[&str]) -> Option<String> {
    get(fields, keys).map(ToString::to_string)
}

fn get_int(fields: &[(&'static str, FieldValue)], keys: &[&str]) -> Option<i64> {
    get(fields, keys).and_then(|v| v.as_i64().or_else(|| v.as_str()?.trim().parse().ok()))
}

/// What the counters need from a finished span, computed without allocating: its type,
/// success and duration, from the span's parts. Classification and success come from
/// `tracing_insights_azure::classify`, the rules the Application Insights layer uses.
pub(crate) fn span_basics_of(
    span_kind: SpanKind,
    status_error: bool,
    fields: &[(&'static str, FieldValue)],
    duration: Duration,
) -> (ItemType, bool, Duration) {
    let (ty, success) = match classify::telemetry_type(kind(span_kind)) {
        TelemetryType::Request => {
            let is_http = get(fields, &["http.request.method", "http.method"]).is_some();
            let http_status = is_http
                .then(|| get_int(fields, &["http.response.status_code", "http.status_code"]));
            (
                ItemType::Request,
                classify::request_success(status_error, http_status),
            )
        }
        TelemetryType::Dependency => (
            ItemType::Dependency,
            classify::dependency_success(status_error),
        ),
    };
    (ty, success, duration)
}

/// A finished span as a request or dependency item, with what documents and filters read,
/// from the span's parts.
pub(crate) fn span_item_of<'a>(
    name: &str,
    span_kind: SpanKind,
    status_error: bool,
    fields: &'a [(&'static str, FieldValue)],
    duration: Duration,
) -> Item<'a> {
    let (ty, success, duration) = span_basics_of(span_kind, status_error, fields, duration);
    let k = kind(span_kind);
    let http_method = get_str(fields, &["http.request.method", "http.method"]);
    let status_code = get_int(fields, &["http.response.status_code", "http.status_code"]);
    let url = get_str(fields, &["url.full", "http.url"]).or_else(|| {
        let path = get_str(fields, &["url.path", "http.target"])?;
        let scheme =
            get_str(fields, &["url.scheme", "http.scheme"]).unwrap_or_else(|| "http".into());
        let host = get_str(fields, &["server.address", "http.host", "net.host.name"])?;
        let mut u = format!("{scheme}://{host}");
        if let Some(p) = get_int(fields, &["server.port", "net.host.port"]) {
            let _ = write!(u, ":{p}");
        }
        u.push_str(&path);
        if let Some(q) = get_str(fields, &["url.query"]) {
            let _ = write!(u, "?{q}");
        }
        Some(u)
    });
    let mut item = Item {
        ty,
        name: name.to_owned(),
        url: None,
        code: None,
        duration,
        success,
        target: None,
        dep_type: None,
        data: None,
        exc_type: None,
        message: None,
        stack: None,
        dims: fields,
    };
    match ty {
        ItemType::Request => {
            item.code = Some(status_code.map_or_else(|| "0".to_owned(), |c| c.to_string()));
            item.url = url;
        }
        _ => {
            item.code = Some(status_code.map_or_else(|| "0".to_owned(), |c| c.to_string()));
            let host = get_str(fields, &["server.address", "net.peer.name", "peer.service"]);
            item.target = match (host, get_int(fields, &["server.port", "net.peer.port"])) {
                (Some(h), Some(p)) => Some(format!("{h}:{p}")),
                (Some(h), None) => Some(h),
                (None, _) => url.as_deref().and_then(url_host).map(str::to_owned),
            };
            if http_method.is_some() {
                item.dep_type = Some("HTTP".into());
                item.data = url;
            } else if let Some(system) = get_str(fields, &["db.system.name", "db.system"]) {
                item.dep_type = Some(classify::db_type(&system).to_owned());
                item.data = get_str(fields, &["db.query.text", "db.statement"]);
            } else if let Some(system) =
                get_str(fields, &["rpc.system", "messaging.system", "gen_ai.system"])
            {
                item.dep_type = Some(system);
            } else if k == Kind::Internal {
                item.dep_type = Some("InProc".into());
            }
        }
    }
    item
}

fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.split(['/', '?', '#']).next().filter(|h| !h.is_empty())
}

/// What Live Metrics takes from an event's fields.
#[derive(Debug, Default)]
pub(crate) struct EventFields {
    pub(crate) fields: Vec<(&'static str, FieldValue)>,
}

impl Visit for EventFields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.fields.push((
            field.name(),
            FieldValue::Str(tracing_insights_correlation::cut_debug(value)),
        ));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.fields.push((
            field.name(),
            FieldValue::Str(tracing_insights_correlation::cut_str(value)),
        ));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.fields.push((field.name(), FieldValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.fields.push((field.name(), FieldValue::U64(value)));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.fields.push((field.name(), FieldValue::F64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.fields.push((field.name(), FieldValue::Bool(value)));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.fields.push((
            field.name(),
            FieldValue::Error(ErrorValue::from_error(value)),
        ));
    }
}

/// Finds out whether an event is an exception ([`is_exception`]) without recording its
/// values.
#[derive(Debug, Default)]
pub(crate) struct ExceptionProbe(pub(crate) bool);

impl Visit for ExceptionProbe {
    fn record_debug(&mut self, field: &Field, _: &dyn std::fmt::Debug) {
        self.0 |= matches!(field.name(), "exception.type" | "exception.message");
    }
    fn record_error(&mut self, _: &Field, _: &(dyn std::error::Error + 'static)) {
        self.0 = true;
    }
}

/// The one rule every Azure layer uses to tell an exception (see
/// [`tracing_insights_azure::classify::is_exception`]).
pub use tracing_insights_azure::classify::is_exception;

/// An event as an exception or a trace item.
pub(crate) fn event_item<'a>(fields: &'a [(&'static str, FieldValue)]) -> Item<'a> {
    let message = get_str(fields, &["message"]);
    let mut item = Item {
        ty: ItemType::Trace,
        name: String::new(),
        url: None,
        code: None,
        duration: Duration::ZERO,
        success: true,
        target: None,
        dep_type: None,
        data: None,
        exc_type: None,
        message: None,
        stack: None,
        dims: fields,
    };
    if is_exception(fields) {
        let error = fields.iter().find_map(|(_, v)| match v {
            FieldValue::Error(e) => Some(e),
            _ => None,
        });
        item.ty = ItemType::Exception;
        item.exc_type = Some(
            get_str(fields, &["exception.type", "error.type"])
                .unwrap_or_else(|| "Exception".to_owned()),
        );
        item.message = get_str(fields, &["exception.message"])
            .or_else(|| error.map(|e| e.message.clone()))
            .or(message);
        item.stack = get_str(fields, &["exception.stacktrace"]).or_else(|| {
            error
                .filter(|e| !e.sources.is_empty())
                .map(|e| e.sources.join("\n"))
        });
    } else {
        item.message = message;
    }
    item
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exception_rule() {
        let err = FieldValue::Error(ErrorValue {
            message: "boom".into(),
            sources: vec![],
        });
        assert!(is_exception(&[("error", err)]));
        assert!(is_exception(&[(
            "exception.type",
            FieldValue::Str("E".into())
        )]));
        assert!(is_exception(&[(
            "exception.message",
            FieldValue::Str("m".into())
        )]));
        assert!(!is_exception(&[(
            "message",
            FieldValue::Str("error: boom".into())
        )]));
        assert!(!is_exception(&[(
            "error",
            FieldValue::Str("not a dyn Error".into())
        )]));
    }
}

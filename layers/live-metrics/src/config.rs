//! The collection configuration the service sends (derived metrics and document streams, each
//! with filter groups, in the ping or post answer when its ETag changes): validation,
//! filters, derived metrics, document streams and the errors reported for what was rejected.

use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::telemetry::{Item, ItemType};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pred {
    Equal,
    NotEqual,
    LessThan,
    GreaterThan,
    LessThanOrEqual,
    GreaterThanOrEqual,
    Contains,
    DoesNotContain,
}

impl Pred {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "Equal" => Self::Equal,
            "NotEqual" => Self::NotEqual,
            "LessThan" => Self::LessThan,
            "GreaterThan" => Self::GreaterThan,
            "LessThanOrEqual" => Self::LessThanOrEqual,
            "GreaterThanOrEqual" => Self::GreaterThanOrEqual,
            "Contains" => Self::Contains,
            "DoesNotContain" => Self::DoesNotContain,
            _ => return None,
        })
    }
    fn is_ordering(self) -> bool {
        matches!(
            self,
            Self::LessThan | Self::GreaterThan | Self::LessThanOrEqual | Self::GreaterThanOrEqual
        )
    }
    fn is_contains(self) -> bool {
        matches!(self, Self::Contains | Self::DoesNotContain)
    }
    fn cmp_num(self, a: f64, b: f64) -> bool {
        match self {
            Self::Equal => a == b,
            Self::NotEqual => a != b,
            Self::LessThan => a < b,
            Self::GreaterThan => a > b,
            Self::LessThanOrEqual => a <= b,
            Self::GreaterThanOrEqual => a >= b,
            Self::Contains | Self::DoesNotContain => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrField {
    Name,
    Url,
    Target,
    Type,
    Data,
    Message,
    Stack,
}

#[derive(Debug, Clone, PartialEq)]
enum Field {
    Any,
    Dim(String),
    Str(StrField),
    Code,
    Duration,
    Success,
}

#[derive(Debug, Clone, PartialEq)]
enum Comparand {
    Text { exact: String, lower: String },
    Number(f64),
    Bool(bool),
}

/// One validated `FilterInfo`.
#[derive(Debug, Clone)]
pub(crate) struct Filter {
    field: Field,
    pred: Pred,
    comparand: Comparand,
}

fn known_field(ty: ItemType, name: &str) -> Option<Field> {
    let n = name.to_ascii_lowercase();
    let f = match (ty, n.as_str()) {
        (ItemType::Request | ItemType::Dependency, "name") => Field::Str(StrField::Name),
        (ItemType::Request, "url") => Field::Str(StrField::Url),
        (ItemType::Request, "responsecode") | (ItemType::Dependency, "resultcode") => Field::Code,
        (ItemType::Request | ItemType::Dependency, "duration") => Field::Duration,
        (ItemType::Request | ItemType::Dependency, "success") => Field::Success,
        (ItemType::Dependency, "target") => Field::Str(StrField::Target),
        (ItemType::Dependency, "type") => Field::Str(StrField::Type),
        (ItemType::Dependency, "data") => Field::Str(StrField::Data),
        (ItemType::Exception, "exception.message" | "message") => Field::Str(StrField::Message),
        (ItemType::Exception, "exception.stacktrace" | "stacktrace") => Field::Str(StrField::Stack),
        (ItemType::Trace, "message") => Field::Str(StrField::Message),
        _ => return None,
    };
    Some(f)
}

/// `d.h:m:s[.fff]` or `h:m:s[.fff]` (a .NET `TimeSpan`) in milliseconds.
pub(crate) fn parse_timespan_ms(s: &str) -> Option<f64> {
    let parts: Vec<&str> = s.trim().split(':').collect();
    let [head, m, sec] = parts.as_slice() else {
        return None;
    };
    let (d, h) = match head.split_once('.') {
        Some((d, h)) => (d.parse::<u64>().ok()?, h.parse::<u64>().ok()?),
        None => (0, head.parse::<u64>().ok()?),
    };
    let m = m.parse::<u64>().ok()?;
    let sec = sec
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)?;
    Some((((d * 24 + h) * 60 + m) as f64 * 60.0 + sec) * 1000.0)
}

impl Filter {
    /// Validates one `FilterInfo` (field, predicate, comparand) for telemetry type `ty`.
    pub(crate) fn compile(ty: ItemType, info: &Value) -> Result<Self, String> {
        let field_name = info.get("FieldName").and_then(Value::as_str).unwrap_or("");
        let pred_name = info.get("Predicate").and_then(Value::as_str).unwrap_or("");
        let comparand = info.get("Comparand").and_then(Value::as_str).unwrap_or("");
        if field_name.is_empty() {
            return Err("FieldName is empty".into());
        }
        if field_name.starts_with("CustomMetrics.") {
            return Err(format!(
                "FieldName {field_name:?}: CustomMetrics are not supported"
            ));
        }
        let pred =
            Pred::parse(pred_name).ok_or_else(|| format!("unknown Predicate {pred_name:?}"))?;
        if comparand.is_empty() {
            return Err(format!("FieldName {field_name:?}: the Comparand is empty"));
        }
        let field = if field_name == "*" {
            Field::Any
        } else if let Some(key) = field_name.strip_prefix("CustomDimensions.") {
            Field::Dim(key.to_owned())
        } else {
            known_field(ty, field_name).ok_or_else(|| {
                format!("FieldName {field_name:?} is not a field of {ty:?} telemetry")
            })?
        };
        let text = || Comparand::Text {
            exact: comparand.to_owned(),
            lower: comparand.to_lowercase(),
        };
        let bad_pred = || {
            Err(format!(
                "Predicate {pred_name} cannot be used with FieldName {field_name:?}"
            ))
        };
        let comparand = match &field {
            Field::Any => {
                if !pred.is_contains() {
                    return bad_pred();
                }
                text()
            }
            Field::Dim(_) | Field::Str(_) => {
                if pred.is_ordering() {
                    return bad_pred();
                }
                text()
            }
            Field::Code => {
                if pred.is_contains() {
                    return bad_pred();
                }
                let v = comparand.trim().parse::<i64>().map_err(|_| {
                    format!("Comparand {comparand:?} of {field_name:?} is not an integer")
                })?;
                Comparand::Number(v as f64)
            }
            Field::Duration => {
                if pred.is_contains() {
                    return bad_pred();
                }
                let ms = parse_timespan_ms(comparand).ok_or_else(|| {
                    format!("Comparand {comparand:?} of Duration is not a d.h:m:s[.fff] time span")
                })?;
                Comparand::Number(ms)
            }
            Field::Success => {
                if !matches!(pred, Pred::Equal | Pred::NotEqual) {
                    return bad_pred();
                }
                let b = if comparand.eq_ignore_ascii_case("true") {
                    true
                } else if comparand.eq_ignore_ascii_case("false") {
                    false
                } else {
                    return Err(format!(
                        "Comparand {comparand:?} of Success is not true/false"
                    ));
                };
                Comparand::Bool(b)
            }
        };
        Ok(Self {
            field,
            pred,
            comparand,
        })
    }

    fn str_value<'a>(item: &'a Item<'_>, f: StrField) -> Option<&'a str> {
        match f {
            StrField::Name => Some(item.name.as_str()),
            StrField::Url => item.url.as_deref(),
            StrField::Target => item.target.as_deref(),
            StrField::Type => item.dep_type.as_deref(),
            StrField::Data => item.data.as_deref(),
            StrField::Message => item.message.as_deref(),
            StrField::Stack => item.stack.as_deref(),
        }
    }

    fn text_matches(&self, value: &str) -> bool {
        let Comparand::Text { exact, lower } = &self.comparand else {
            return false;
        };
        match self.pred {
            Pred::Equal => value == exact,
            Pred::NotEqual => value != exact,
            Pred::Contains => value.to_lowercase().contains(lower.as_str()),
            Pred::DoesNotContain => !value.to_lowercase().contains(lower.as_str()),
            _ => false,
        }
    }

    /// Whether `item` passes this filter.
    pub(crate) fn matches(&self, item: &Item<'_>) -> bool {
        match &self.field {
            Field::Str(f) => self.text_matches(Self::str_value(item, *f).unwrap_or("")),
            Field::Dim(key) => match item.dim(key) {
                Some(v) => self.text_matches(&v.to_string()),
                None => false,
            },
            Field::Any => {
                let Comparand::Text { lower, .. } = &self.comparand else {
                    return false;
                };
                let fields = [
                    StrField::Name,
                    StrField::Url,
                    StrField::Target,
                    StrField::Type,
                    StrField::Data,
                    StrField::Message,
                    StrField::Stack,
                ];
                let known = fields
                    .iter()
                    .filter_map(|f| Self::str_value(item, *f))
                    .filter(|v| !v.is_empty())
                    .map(str::to_owned);
                let code = item.code.iter().cloned();
                let dims = item.dims.iter().map(|(_, v)| v.to_string());
                let any = known
                    .chain(code)
                    .chain(dims)
                    .any(|v| v.to_lowercase().contains(lower.as_str()));
                if self.pred == Pred::Contains {
                    any
                } else {
                    !any
                }
            }
            Field::Code => {
                let Comparand::Number(c) = self.comparand else {
                    return false;
                };
                match item
                    .code
                    .as_deref()
                    .and_then(|v| v.trim().parse::<i64>().ok())
                {
                    Some(v) => self.pred.cmp_num(v as f64, c),
                    None => false,
                }
            }
            Field::Duration => {
                let Comparand::Number(c) = self.comparand else {
                    return false;
                };
                self.pred.cmp_num(item.duration_ms(), c)
            }
            Field::Success => {
                let Comparand::Bool(b) = self.comparand else {
                    return false;
                };
                (item.success == b) == (self.pred == Pred::Equal)
            }
        }
    }
}

/// A group of filters, AND-ed (an empty group matches everything).
fn group_matches(group: &[Filter], item: &Item<'_>) -> bool {
    group.iter().all(|f| f.matches(item))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregation {
    Sum,
    Avg,
    Min,
    Max,
}

#[derive(Debug, Clone, PartialEq)]
enum Projection {
    Count,
    Duration,
    Dim(String),
}

/// Lock-free accumulator for one derived metric over one post interval.
#[derive(Debug)]
struct Accumulator {
    count: AtomicU64,
    sum: AtomicU64,
    min: AtomicU64,
    max: AtomicU64,
}

fn f64_update(a: &AtomicU64, f: impl Fn(f64) -> f64) {
    let _ = a.fetch_update(Ordering::AcqRel, Ordering::Acquire, |bits| {
        Some(f(f64::from_bits(bits)).to_bits())
    });
}

impl Accumulator {
    fn new() -> Self {
        Self {
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0f64.to_bits()),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
        }
    }
    fn add(&self, v: f64) {
        self.count.fetch_add(1, Ordering::AcqRel);
        f64_update(&self.sum, |s| s + v);
        f64_update(&self.min, |m| m.min(v));
        f64_update(&self.max, |m| m.max(v));
    }
    fn take(&self, agg: Aggregation) -> f64 {
        let count = self.count.swap(0, Ordering::AcqRel);
        let sum = f64::from_bits(self.sum.swap(0f64.to_bits(), Ordering::AcqRel));
        let min = f64::from_bits(self.min.swap(f64::INFINITY.to_bits(), Ordering::AcqRel));
        let max = f64::from_bits(self.max.swap(f64::NEG_INFINITY.to_bits(), Ordering::AcqRel));
        if count == 0 {
            return 0.0;
        }
        match agg {
            Aggregation::Sum => sum,
            Aggregation::Avg => sum / count as f64,
            Aggregation::Min if min.is_finite() => min,
            Aggregation::Max if max.is_finite() => max,
            Aggregation::Min | Aggregation::Max => 0.0,
        }
    }
}

/// One `DerivedMetricInfo`, validated, with its accumulator.
#[derive(Debug)]
struct DerivedMetric {
    id: String,
    ty: ItemType,
    groups: Vec<Vec<Filter>>,
    projection: Projection,
    aggregation: Aggregation,
    acc: Accumulator,
}

/// One `DocumentStreamInfo`, validated.
#[derive(Debug)]
struct Stream {
    id: String,
    groups: Vec<(ItemType, Vec<Filter>)>,
}

/// Which document streams want an item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum DocumentDecision<'a> {
    /// No stream asks for this telemetry type: sent with no stream ids (every stream).
    Unfiltered,
    /// Sent with these stream ids.
    Streams(Vec<&'a str>),
    /// Streams ask for the type and none matches: not sent.
    Drop,
}

/// An applied collection configuration.
#[derive(Debug, Default)]
pub(crate) struct CollectionConfig {
    metrics: Vec<DerivedMetric>,
    streams: Vec<Stream>,
    /// `CollectionConfigurationErrors` for what was rejected, sent with every post.
    pub(crate) errors: Vec<Value>,
}

fn error(kind: &str, message: String, etag: &str, data: &[(&str, &str)]) -> Value {
    let mut kv: Vec<Value> = data
        .iter()
        .map(|(k, v)| json!({"key": k, "value": v}))
        .collect();
    kv.push(json!({"key": "ETag", "value": etag}));
    json!({
        "CollectionConfigurationErrorType": kind,
        "Message": message,
        "FullException": "",
        "Data": kv,
    })
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn compile_group(ty: ItemType, filters: &[Value]) -> Result<Vec<Filter>, String> {
    filters.iter().map(|f| Filter::compile(ty, f)).collect()
}

impl CollectionConfig {
    /// Validates a `CollectionConfigurationInfo` body. Invalid metrics, streams and filter
    /// groups are left out and described in [`CollectionConfig::errors`].
    pub(crate) fn parse(body: &Value, etag: &str) -> Self {
        let mut cfg = CollectionConfig::default();
        for m in array(body, "Metrics") {
            let id = m.get("Id").and_then(Value::as_str).unwrap_or("").to_owned();
            let fail = |kind: &str, msg: String| error(kind, msg, etag, &[("MetricId", &id)]);
            if id.is_empty() {
                cfg.errors.push(fail(
                    "MetricFailureToCreate",
                    "a derived metric has no Id".into(),
                ));
                continue;
            }
            if cfg.metrics.iter().any(|x| x.id == id) {
                cfg.errors.push(fail(
                    "MetricDuplicateIds",
                    format!("duplicate metric Id {id:?}"),
                ));
                continue;
            }
            let tt = m.get("TelemetryType").and_then(Value::as_str).unwrap_or("");
            let Some(ty) = ItemType::parse(tt) else {
                cfg.errors.push(fail(
                    "MetricTelemetryTypeUnsupported",
                    format!("metric {id:?}: TelemetryType {tt:?} is not supported"),
                ));
                continue;
            };
            let proj = m.get("Projection").and_then(Value::as_str).unwrap_or("");
            let projection = if proj == "Count()" {
                Projection::Count
            } else if proj.eq_ignore_ascii_case("Duration")
                && matches!(ty, ItemType::Request | ItemType::Dependency)
            {
                Projection::Duration
            } else if let Some(k) = proj
                .strip_prefix("CustomDimensions.")
                .filter(|k| !k.is_empty())
            {
                Projection::Dim(k.to_owned())
            } else {
                cfg.errors.push(fail(
                    "MetricFailureToCreate",
                    format!("metric {id:?}: Projection {proj:?} is not supported for {tt}"),
                ));
                continue;
            };
            let agg = m.get("Aggregation").and_then(Value::as_str).unwrap_or("");
            let aggregation = match agg {
                "Sum" => Aggregation::Sum,
                "Avg" => Aggregation::Avg,
                "Min" => Aggregation::Min,
                "Max" => Aggregation::Max,
                _ => {
                    cfg.errors.push(fail(
                        "MetricFailureToCreate",
                        format!("metric {id:?}: Aggregation {agg:?} is not Sum, Avg, Min or Max"),
                    ));
                    continue;
                }
            };
            let groups: Result<Vec<Vec<Filter>>, String> = array(m, "FilterGroups")
                .iter()
                .map(|g| compile_group(ty, array(g, "Filters")))
                .collect();
            match groups {
                Ok(groups) => cfg.metrics.push(DerivedMetric {
                    id,
                    ty,
                    groups,
                    projection,
                    aggregation,
                    acc: Accumulator::new(),
                }),
                Err(e) => cfg.errors.push(fail(
                    "MetricFailureToCreateFilterUnexpected",
                    format!("metric {id:?}: {e}"),
                )),
            }
        }
        for s in array(body, "DocumentStreams") {
            let id = s.get("Id").and_then(Value::as_str).unwrap_or("").to_owned();
            let fail =
                |kind: &str, msg: String| error(kind, msg, etag, &[("DocumentStreamId", &id)]);
            if id.is_empty() {
                cfg.errors.push(fail(
                    "DocumentStreamFailureToCreate",
                    "a document stream has no Id".into(),
                ));
                continue;
            }
            if cfg.streams.iter().any(|x| x.id == id) {
                cfg.errors.push(fail(
                    "DocumentStreamDuplicateIds",
                    format!("duplicate document stream Id {id:?}"),
                ));
                continue;
            }
            let mut stream = Stream {
                id: id.clone(),
                groups: Vec::new(),
            };
            for g in array(s, "DocumentFilterGroups") {
                let tt = g.get("TelemetryType").and_then(Value::as_str).unwrap_or("");
                let Some(ty) = ItemType::parse(tt) else {
                    cfg.errors.push(fail(
                        "DocumentStreamFailureToCreateFilterUnexpected",
                        format!("stream {id:?}: TelemetryType {tt:?} is not supported"),
                    ));
                    continue;
                };
                let filters = g.get("Filters").map_or(&[][..], |f| array(f, "Filters"));
                match compile_group(ty, filters) {
                    Ok(group) => stream.groups.push((ty, group)),
                    Err(e) => cfg.errors.push(fail(
                        "DocumentStreamFailureToCreateFilterUnexpected",
                        format!("stream {id:?}: {e}"),
                    )),
                }
            }
            if stream.groups.is_empty() {
                cfg.errors.push(fail(
                    "DocumentStreamFailureToCreate",
                    format!("stream {id:?} has no valid filter group"),
                ));
                continue;
            }
            cfg.streams.push(stream);
        }
        cfg
    }

    /// Which streams want `item` as a document.
    pub(crate) fn document_decision(&self, item: &Item<'_>) -> DocumentDecision<'_> {
        let mut configured = false;
        let mut ids = Vec::new();
        for s in &self.streams {
            let mut groups = s.groups.iter().filter(|(ty, _)| *ty == item.ty).peekable();
            if groups.peek().is_none() {
                continue;
            }
            configured = true;
            if groups.any(|(_, g)| group_matches(g, item)) {
                ids.push(s.id.as_str());
            }
        }
        match (configured, ids.is_empty()) {
            (false, _) => DocumentDecision::Unfiltered,
            (true, true) => DocumentDecision::Drop,
            (true, false) => DocumentDecision::Streams(ids),
        }
    }

    /// Whether any derived metric reads this telemetry type.
    pub(crate) fn has_metrics(&self) -> bool {
        !self.metrics.is_empty()
    }

    /// Feeds `item` to every derived metric that selects it.
    pub(crate) fn observe(&self, item: &Item<'_>) {
        for m in &self.metrics {
            if m.ty != item.ty {
                continue;
            }
            if !m.groups.is_empty() && !m.groups.iter().any(|g| group_matches(g, item)) {
                continue;
            }
            let v = match &m.projection {
                Projection::Count => Some(1.0),
                Projection::Duration => Some(item.duration_ms()),
                Projection::Dim(k) => item.dim(k).and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str()?.trim().parse::<f64>().ok())
                }),
            };
            if let Some(v) = v.filter(|v| v.is_finite()) {
                m.acc.add(v);
            }
        }
    }

    /// The derived metrics' values for this interval (every configured metric, zeros
    /// included), resetting the accumulators.
    pub(crate) fn take_metrics(&self) -> Vec<(String, f64)> {
        self.metrics
            .iter()
            .map(|m| (m.id.clone(), m.acc.take(m.aggregation)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::ItemType;
    use std::time::Duration;

    fn req<'a>(name: &str, code: &str, ms: u64, success: bool) -> Item<'a> {
        Item {
            ty: ItemType::Request,
            name: name.into(),
            url: Some(format!("http://x{name}")),
            code: Some(code.into()),
            duration: Duration::from_millis(ms),
            success,
            target: None,
            dep_type: None,
            data: None,
            exc_type: None,
            message: None,
            stack: None,
            dims: &[],
        }
    }

    fn f(field: &str, pred: &str, cmp: &str) -> Value {
        json!({"FieldName": field, "Predicate": pred, "Comparand": cmp})
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan_ms("0.0:0:10"), Some(10_000.0));
        assert_eq!(
            parse_timespan_ms("14.6:56:7.89"),
            Some(((14.0 * 24.0 + 6.0) * 60.0 + 56.0) * 60_000.0 + 7890.0)
        );
        assert_eq!(parse_timespan_ms("00:00:00.5"), Some(500.0));
        assert_eq!(parse_timespan_ms("10"), None);
        assert_eq!(parse_timespan_ms("a:b:c"), None);
    }

    #[test]
    fn validation_rules() {
        let ok = |ty, v: Value| Filter::compile(ty, &v).is_ok();
        assert!(ok(ItemType::Request, f("*", "Contains", "x")));
        assert!(!ok(ItemType::Request, f("*", "Equal", "x")));
        assert!(!ok(ItemType::Request, f("", "Equal", "x")));
        assert!(!ok(ItemType::Request, f("Name", "Equal", "")));
        assert!(!ok(ItemType::Request, f("CustomMetrics.x", "Equal", "1")));
        assert!(!ok(
            ItemType::Request,
            f("customdimensions.x", "Equal", "1")
        ));
        assert!(ok(ItemType::Request, f("CustomDimensions.x", "Equal", "1")));
        assert!(!ok(
            ItemType::Request,
            f("CustomDimensions.x", "LessThan", "1")
        ));
        assert!(ok(
            ItemType::Request,
            f("responsecode", "GreaterThanOrEqual", "500")
        ));
        assert!(!ok(ItemType::Request, f("ResponseCode", "Contains", "5")));
        assert!(!ok(ItemType::Request, f("ResponseCode", "Equal", "abc")));
        assert!(!ok(ItemType::Request, f("ResultCode", "Equal", "1")));
        assert!(ok(ItemType::Dependency, f("ResultCode", "Equal", "1")));
        assert!(ok(
            ItemType::Request,
            f("Duration", "GreaterThan", "0.0:0:1")
        ));
        assert!(!ok(ItemType::Request, f("Duration", "GreaterThan", "1000")));
        assert!(ok(ItemType::Request, f("Success", "Equal", "FALSE")));
        assert!(!ok(ItemType::Request, f("Success", "GreaterThan", "true")));
        assert!(!ok(ItemType::Request, f("Success", "Equal", "yes")));
        assert!(!ok(ItemType::Request, f("Name", "LessThan", "a")));
        assert!(ok(
            ItemType::Exception,
            f("Exception.Message", "Contains", "a")
        ));
        assert!(!ok(ItemType::Trace, f("Name", "Contains", "a")));
        assert!(!ok(ItemType::Request, f("Name", "Like", "a")));
    }

    #[test]
    fn evaluation_and_groups() {
        let a = req("/orders", "500", 30, false);
        let b = req("/items", "200", 5, true);
        let c = |v: Value| Filter::compile(ItemType::Request, &v).unwrap();
        assert!(c(f("ResponseCode", "GreaterThanOrEqual", "500")).matches(&a));
        assert!(!c(f("ResponseCode", "GreaterThanOrEqual", "500")).matches(&b));
        assert!(c(f("Url", "Contains", "/ORDERS")).matches(&a));
        assert!(!c(f("Name", "Equal", "/ORDERS")).matches(&a));
        assert!(c(f("Name", "NotEqual", "/ORDERS")).matches(&a));
        assert!(c(f("Success", "Equal", "false")).matches(&a));
        assert!(c(f("Success", "NotEqual", "false")).matches(&b));
        assert!(c(f("Duration", "GreaterThan", "0.0:0:0.02")).matches(&a));
        assert!(!c(f("Duration", "GreaterThan", "0.0:0:0.02")).matches(&b));
        assert!(c(f("*", "Contains", "item")).matches(&b));
        assert!(c(f("*", "DoesNotContain", "item")).matches(&a));
        assert!(!c(f("CustomDimensions.k", "Equal", "v")).matches(&a));
        // AND within a group: the second filter matters (Microsoft's Python reads only the first).
        let group = vec![
            c(f("Success", "Equal", "false")),
            c(f("Url", "Contains", "/items")),
        ];
        assert!(!group_matches(&group, &a));
        assert!(group_matches(&[], &a));
    }

    #[test]
    fn config_errors_and_metrics() {
        let body = json!({
            "Metrics": [
                {"Id": "m1", "TelemetryType": "Request", "FilterGroups": [{"Filters": [f("Success", "Equal", "false"), f("Url", "Contains", "orders")]}], "Projection": "Count()", "Aggregation": "Sum"},
                {"Id": "m1", "TelemetryType": "Request", "FilterGroups": [], "Projection": "Count()", "Aggregation": "Sum"},
                {"Id": "ev", "TelemetryType": "Event", "FilterGroups": [], "Projection": "Count()", "Aggregation": "Sum"},
                {"Id": "cm", "TelemetryType": "Request", "FilterGroups": [], "Projection": "CustomMetrics.x", "Aggregation": "Sum"},
                {"Id": "bad", "TelemetryType": "Request", "FilterGroups": [{"Filters": [f("Nope", "Equal", "1")]}], "Projection": "Count()", "Aggregation": "Sum"},
                {"Id": "max", "TelemetryType": "Request", "FilterGroups": [], "Projection": "Duration", "Aggregation": "Max"},
                {"Id": "min", "TelemetryType": "Request", "FilterGroups": [], "Projection": "Duration", "Aggregation": "Min"},
                {"Id": "avg", "TelemetryType": "Request", "FilterGroups": [], "Projection": "Duration", "Aggregation": "Avg"}
            ],
            "DocumentStreams": [
                {"Id": "s1", "DocumentFilterGroups": [{"TelemetryType": "Request", "Filters": {"Filters": [f("ResponseCode", "GreaterThanOrEqual", "500")]}}]},
                {"Id": "s1", "DocumentFilterGroups": []},
                {"Id": "s2", "DocumentFilterGroups": [{"TelemetryType": "Event", "Filters": {"Filters": []}}]}
            ]
        });
        let cfg = CollectionConfig::parse(&body, "e1");
        let kinds: Vec<&str> = cfg
            .errors
            .iter()
            .map(|e| e["CollectionConfigurationErrorType"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "MetricDuplicateIds",
                "MetricTelemetryTypeUnsupported",
                "MetricFailureToCreate",
                "MetricFailureToCreateFilterUnexpected",
                "DocumentStreamDuplicateIds",
                "DocumentStreamFailureToCreateFilterUnexpected",
                "DocumentStreamFailureToCreate"
            ]
        );
        let a = req("/orders", "500", 30, false);
        let b = req("/items", "200", 10, true);
        let d = req("/items", "503", 20, false);
        for it in [&a, &b, &d] {
            cfg.observe(it);
        }
        assert_eq!(
            cfg.document_decision(&a),
            DocumentDecision::Streams(vec!["s1"])
        );
        assert_eq!(cfg.document_decision(&b), DocumentDecision::Drop);
        let m: Vec<(String, f64)> = cfg.take_metrics();
        assert_eq!(
            m,
            vec![
                ("m1".into(), 1.0),
                ("max".into(), 30.0),
                ("min".into(), 10.0),
                ("avg".into(), 20.0)
            ]
        );
        // Reset after each take, zeros still reported.
        assert!(cfg.take_metrics().iter().all(|(_, v)| *v == 0.0));
    }
}

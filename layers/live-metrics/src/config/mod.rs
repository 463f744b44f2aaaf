//! The collection configuration the service sends (derived metrics and document streams, each
//! with filter groups, in the ping or post answer when its ETag changes): validation,
//! filters, derived metrics, document streams and the errors reported for what was rejected.

use serde_json::{json, Value};

use crate::telemetry::{Item, ItemType};

mod derived;
mod filter;
#[cfg(test)]
mod tests;

use derived::*;
pub(crate) use filter::*;

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

//! Telemetry processors: code that sees every item before it is encoded and may change it or
//! drop it (Microsoft's span and log processors, the classic SDK's telemetry processors,
//! Sentry's `before_send`).
//!
//! A processor gets a [`Telemetry`]: this exporter's own mutable copy of one item (a shared
//! span record is never touched), with its kind, properties, context tags and fields. It
//! runs on the exporter's threads (the encoder for spans and logs, the metric timer for
//! metrics), never on the application's. Returning `false` drops the item; a panic drops it
//! too and is counted in [`ExportStats::contained_panics`](crate::ExportStats). Processors run
//! in the order they were added.
//!
//! Processors cost time on the encoder thread: without any, an envelope is written straight
//! from the span or event to JSON; with one or more, each item is first built as the
//! `serde_json::Value` a [`Telemetry`] edits (its [`field`](Telemetry::field) and
//! [`set_field`](Telemetry::set_field) speak `Value`), then written from that: about 2.5
//! times the encoder's work per item (the crate's `encode` bench).
//!
//! ```
//! use tracing_insights_appinsights::processors::{AddProperties, RedactGenAiContent, RedactMatching, RedactUrlQuery};
//! use tracing_insights_appinsights::{AppInsightsLayer, Telemetry, TelemetryKind};
//!
//! let builder = AppInsightsLayer::builder()
//!     .with_processor(AddProperties::new([("deployment", "blue")]))
//!     // Prompts and completions never leave the process.
//!     .with_processor(RedactGenAiContent)
//!     // `?token=abc` becomes `?token=REDACTED` in URLs.
//!     .with_processor(RedactUrlQuery)
//!     // Any property value that looks like an e-mail address.
//!     .with_processor(RedactMatching::glob("*@*.*"))
//!     // A closure: drop health checks, re-type a dependency.
//!     .with_processor(|item: &mut Telemetry<'_>| {
//!         if item.kind() == Some(TelemetryKind::Request) && item.name() == Some("GET /health") {
//!             return false;
//!         }
//!         if item.field("target").and_then(|t| t.as_str()) == Some("cache:6379") {
//!             item.set_field("type", "Redis");
//!         }
//!         true
//!     });
//! # let _ = builder;
//! ```

use serde_json::{Map, Value};

pub mod processors;

/// What an item is, from its envelope's data type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryKind {
    /// A request (server or consumer span).
    Request,
    /// A dependency (client, producer or internal span).
    Dependency,
    /// A log line (trace).
    Message,
    /// An exception.
    Exception,
    /// A custom event.
    Event,
    /// An availability result.
    Availability,
    /// A metric point (also standard metrics and performance counters).
    Metric,
}

/// One item on its way out, as this exporter's own mutable view of it.
#[derive(Debug)]
pub struct Telemetry<'a> {
    env: &'a mut Value,
}

impl<'a> Telemetry<'a> {
    pub(crate) fn new(env: &'a mut Value) -> Self {
        Self { env }
    }

    /// What the item is; `None` for an envelope of an unknown type.
    pub fn kind(&self) -> Option<TelemetryKind> {
        Some(match self.env["data"]["baseType"].as_str()? {
            "RequestData" => TelemetryKind::Request,
            "RemoteDependencyData" => TelemetryKind::Dependency,
            "MessageData" => TelemetryKind::Message,
            "ExceptionData" => TelemetryKind::Exception,
            "EventData" => TelemetryKind::Event,
            "AvailabilityData" => TelemetryKind::Availability,
            "MetricData" => TelemetryKind::Metric,
            _ => return None,
        })
    }

    /// The item's name: a request's or dependency's `name`, an event's name, a log line's
    /// message, a metric's name.
    pub fn name(&self) -> Option<&str> {
        let bd = &self.env["data"]["baseData"];
        bd["name"]
            .as_str()
            .or_else(|| bd["message"].as_str())
            .or_else(|| bd["metrics"][0]["name"].as_str())
    }

    fn props(&self) -> Option<&Map<String, Value>> {
        self.env["data"]["baseData"]["properties"].as_object()
    }

    fn props_mut(&mut self) -> Option<&mut Map<String, Value>> {
        let bd = self.env.get_mut("data")?.get_mut("baseData")?;
        let bd = bd.as_object_mut()?;
        bd.entry("properties")
            .or_insert_with(|| Value::Object(Map::new()))
            .as_object_mut()
    }

    /// A property (custom dimension).
    pub fn property(&self, key: &str) -> Option<&str> {
        self.props()?.get(key)?.as_str()
    }

    /// Every property, in the envelope's order.
    pub fn properties(&self) -> impl Iterator<Item = (&str, &str)> {
        self.props()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
    }

    /// Adds or replaces a property.
    pub fn set_property(&mut self, key: impl Into<String>, value: impl Into<String>) {
        if let Some(p) = self.props_mut() {
            p.insert(key.into(), Value::String(value.into()));
        }
    }

    /// Removes a property, returning its value.
    pub fn remove_property(&mut self, key: &str) -> Option<String> {
        match self.props_mut()?.remove(key)? {
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// Changes every property value with `f` (`None` keeps the value).
    pub fn map_properties(&mut self, mut f: impl FnMut(&str, &str) -> Option<String>) {
        if let Some(p) = self.props_mut() {
            for (k, v) in p.iter_mut() {
                if let Some(new) = v.as_str().and_then(|s| f(k, s)) {
                    *v = Value::String(new);
                }
            }
        }
    }

    /// A context tag (`ai.user.id`, `ai.cloud.role`, ...).
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.env["tags"][key].as_str()
    }

    /// Adds or replaces a context tag.
    pub fn set_tag(&mut self, key: impl Into<String>, value: impl Into<String>) {
        if let Some(tags) = self.env.get_mut("tags").and_then(Value::as_object_mut) {
            tags.insert(key.into(), Value::String(value.into()));
        }
    }

    /// Removes a context tag, returning its value.
    pub fn remove_tag(&mut self, key: &str) -> Option<String> {
        let tags = self.env.get_mut("tags")?.as_object_mut()?;
        match tags.remove(key)? {
            Value::String(s) => Some(s),
            other => Some(other.to_string()),
        }
    }

    /// A field of the item's data (`type`, `target`, `data`, `url`, `message`,
    /// `resultCode`, `success`, ...), as the schema names it.
    pub fn field(&self, name: &str) -> Option<&Value> {
        self.env["data"]["baseData"].get(name)
    }

    /// Sets a field of the item's data. Fields the schema does not know are ignored by the
    /// service; `properties` and the metric list are better changed through their methods.
    pub fn set_field(&mut self, name: &str, value: impl Into<Value>) {
        if let Some(bd) = self
            .env
            .get_mut("data")
            .and_then(|d| d.get_mut("baseData"))
            .and_then(Value::as_object_mut)
        {
            bd.insert(name.to_owned(), value.into());
        }
    }
}

/// Sees each item before it is encoded; returns `false` to drop it. Any
/// `Fn(&mut Telemetry<'_>) -> bool + Send + Sync` closure is one.
pub trait TelemetryProcessor: Send + Sync + 'static {
    /// Changes `item` in place; `false` drops it.
    fn process(&self, item: &mut Telemetry<'_>) -> bool;
}

impl<F> TelemetryProcessor for F
where
    F: Fn(&mut Telemetry<'_>) -> bool + Send + Sync + 'static,
{
    fn process(&self, item: &mut Telemetry<'_>) -> bool {
        self(item)
    }
}

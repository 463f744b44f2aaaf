//! The envelope as typed structs that borrow what they can from the span, the event and part
//! A, written straight to JSON by `serde` (no `serde_json::Value` tree on the way).
//!
//! Every object is written with its keys in sorted order, as a `serde_json::Map` (a
//! `BTreeMap` here) writes them, so the bytes equal those of the same envelope converted to
//! a `Value` and written from there, which is what the telemetry processors' path does
//! ([`Envelope::to_value`]). Struct fields are declared in that order for that reason.

use super::time::Timestamp;
use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// String keys and values written as one JSON object: keys sorted and unique (the last
/// [`insert`](Self::insert) wins), the way a `serde_json::Map` holds them.
#[derive(Debug, Default, Clone)]
pub(crate) struct StrMap<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> StrMap<'a> {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_ref().cmp(key))
    }

    /// Adds or replaces `key`.
    pub(crate) fn insert(&mut self, key: impl Into<Cow<'a, str>>, value: impl Into<Cow<'a, str>>) {
        let key = key.into();
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value.into(),
            Err(i) => self.0.insert(i, (key, value.into())),
        }
    }

    /// Adds `key` unless it is there already.
    pub(crate) fn insert_absent(
        &mut self,
        key: impl Into<Cow<'a, str>>,
        value: impl FnOnce() -> Cow<'a, str>,
    ) {
        let key = key.into();
        if let Err(i) = self.find(&key) {
            self.0.insert(i, (key, value()));
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.find(key).ok().map(|i| self.0[i].1.as_ref())
    }

    pub(crate) fn contains(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// The same entries, borrowed.
    pub(crate) fn borrowed(&self) -> StrMap<'_> {
        let mut v = Vec::with_capacity(self.0.len() + 8);
        v.extend(
            self.0
                .iter()
                .map(|(k, v)| (Cow::Borrowed(k.as_ref()), Cow::Borrowed(v.as_ref()))),
        );
        StrMap(v)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }
}

impl Serialize for StrMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            m.serialize_entry(k.as_ref(), v.as_ref())?;
        }
        m.end()
    }
}

/// One envelope. `measurements` stay a `serde_json::Map` (rare; an empty one costs nothing).
#[derive(Debug, Serialize)]
pub(crate) struct Envelope<'a> {
    pub(crate) data: Data<'a>,
    #[serde(rename = "iKey")]
    pub(crate) ikey: &'a str,
    pub(crate) name: &'static str,
    #[serde(rename = "sampleRate", skip_serializing_if = "Option::is_none")]
    pub(crate) sample_rate: Option<f64>,
    pub(crate) tags: StrMap<'a>,
    pub(crate) time: Timestamp,
}

/// `data`: the base type's name and its fields.
#[derive(Debug, Serialize)]
pub(crate) struct Data<'a> {
    #[serde(rename = "baseData")]
    pub(crate) base_data: BaseData<'a>,
    #[serde(rename = "baseType")]
    pub(crate) base_type: &'static str,
}

/// `baseData`, one variant per envelope type.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(crate) enum BaseData<'a> {
    Request(RequestData<'a>),
    Dependency(DependencyData<'a>),
    Message(MessageData<'a>),
    Exception(ExceptionData<'a>),
    Event(EventData<'a>),
    Availability(AvailabilityData<'a>),
    Metric(MetricData<'a>),
}

#[derive(Debug, Serialize)]
pub(crate) struct RequestData<'a> {
    pub(crate) duration: String,
    /// `duration` in milliseconds, as the standard metrics read it (not sent); `None`:
    /// parse `duration`.
    #[serde(skip)]
    pub(crate) duration_ms: Option<f64>,
    pub(crate) id: &'a str,
    pub(crate) measurements: Map<String, Value>,
    pub(crate) name: Cow<'a, str>,
    pub(crate) properties: StrMap<'a>,
    #[serde(rename = "responseCode")]
    pub(crate) response_code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<String>,
    pub(crate) success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    pub(crate) ver: u8,
}

#[derive(Debug, Serialize)]
pub(crate) struct DependencyData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data: Option<String>,
    pub(crate) duration: String,
    /// `duration` in milliseconds, as the standard metrics read it (not sent); `None`:
    /// parse `duration`.
    #[serde(skip)]
    pub(crate) duration_ms: Option<f64>,
    pub(crate) id: &'a str,
    pub(crate) measurements: Map<String, Value>,
    pub(crate) name: Cow<'a, str>,
    pub(crate) properties: StrMap<'a>,
    #[serde(rename = "resultCode")]
    pub(crate) result_code: String,
    pub(crate) success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub(crate) dep_type: Option<String>,
    pub(crate) ver: u8,
}

#[derive(Debug, Serialize)]
pub(crate) struct MessageData<'a> {
    pub(crate) measurements: Map<String, Value>,
    pub(crate) message: Cow<'a, str>,
    pub(crate) properties: StrMap<'a>,
    #[serde(rename = "severityLevel")]
    pub(crate) severity_level: i64,
    pub(crate) ver: u8,
}

#[derive(Debug, Serialize)]
pub(crate) struct ExceptionData<'a> {
    pub(crate) exceptions: Vec<ExceptionDetail<'a>>,
    pub(crate) measurements: Map<String, Value>,
    pub(crate) properties: StrMap<'a>,
    #[serde(rename = "severityLevel")]
    pub(crate) severity_level: i64,
    pub(crate) ver: u8,
}

#[derive(Debug, Serialize)]
pub(crate) struct ExceptionDetail<'a> {
    #[serde(rename = "hasFullStack")]
    pub(crate) has_full_stack: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<usize>,
    pub(crate) message: Cow<'a, str>,
    #[serde(rename = "outerId", skip_serializing_if = "Option::is_none")]
    pub(crate) outer_id: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stack: Option<String>,
    #[serde(rename = "typeName")]
    pub(crate) type_name: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
pub(crate) struct EventData<'a> {
    pub(crate) measurements: Map<String, Value>,
    pub(crate) name: String,
    pub(crate) properties: StrMap<'a>,
    pub(crate) ver: u8,
}

#[derive(Debug, Serialize)]
pub(crate) struct AvailabilityData<'a> {
    pub(crate) duration: String,
    pub(crate) id: String,
    pub(crate) measurements: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message: Option<String>,
    pub(crate) name: String,
    pub(crate) properties: StrMap<'a>,
    #[serde(rename = "runLocation", skip_serializing_if = "Option::is_none")]
    pub(crate) run_location: Option<String>,
    pub(crate) success: bool,
    pub(crate) ver: u8,
}

#[derive(Debug, Serialize)]
pub(crate) struct MetricData<'a> {
    pub(crate) metrics: [MetricValue<'a>; 1],
    pub(crate) properties: StrMap<'a>,
    pub(crate) ver: u8,
}

/// One data point. `value` is a JSON number (an integer `0` for the resource metric).
#[derive(Debug, Serialize)]
pub(crate) struct MetricValue<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) count: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) min: Option<f64>,
    pub(crate) name: Cow<'a, str>,
    pub(crate) value: Value,
}

impl<'a> Envelope<'a> {
    /// The properties (customDimensions), for the envelope types that have them.
    pub(crate) fn properties_mut(&mut self) -> Option<&mut StrMap<'a>> {
        Some(match &mut self.data.base_data {
            BaseData::Request(d) => &mut d.properties,
            BaseData::Dependency(d) => &mut d.properties,
            BaseData::Message(d) => &mut d.properties,
            BaseData::Exception(d) => &mut d.properties,
            BaseData::Event(d) => &mut d.properties,
            BaseData::Availability(d) => &mut d.properties,
            BaseData::Metric(d) => &mut d.properties,
        })
    }

    /// The envelope as a `serde_json` tree: what telemetry processors see and edit.
    pub(crate) fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

//! The envelope written as JSON by hand, field by field in the order `serde_json` writes
//! its `Value` (sorted keys), with strings checked for escapes eight bytes at a time (the
//! correlation crate's `write_json_str`).
//! `serde_json`'s own string writer goes byte by byte through a table and was a third of
//! the encoder thread's time (the `encode` bench, callgrind). Numbers other than small
//! integers still go through `serde_json`, so they read exactly as before. The test
//! `typed_envelopes_write_the_bytes_their_value_writes` holds this to the `Value` path.

use super::envelope::{
    AvailabilityData, BaseData, DependencyData, Envelope, EventData, ExceptionData, MessageData,
    MetricData, RequestData, StrMap,
};
use serde::Serialize;
use serde_json::{Map, Value};
use std::fmt;
use tracing_insights_correlation::format::{write_decimal, write_json_str};

/// Appends `e` as one JSON object.
pub(crate) fn write_envelope(out: &mut Vec<u8>, e: &Envelope<'_>) {
    let mut o = Obj::new(out);
    {
        let mut d = Obj::new(o.key("data"));
        base_data(d.key("baseData"), &e.data.base_data);
        d.str("baseType", e.data.base_type);
        d.end();
    }
    o.str("iKey", e.ikey);
    o.str("name", e.name);
    if let Some(r) = e.sample_rate {
        o.num("sampleRate", &r);
    }
    str_map(o.key("tags"), &e.tags);
    let time = e.time.digits();
    o.str("time", time.as_str());
    o.end();
}

fn base_data(out: &mut Vec<u8>, bd: &BaseData<'_>) {
    match bd {
        BaseData::Request(d) => request(out, d),
        BaseData::Dependency(d) => dependency(out, d),
        BaseData::Message(d) => message(out, d),
        BaseData::Exception(d) => exception(out, d),
        BaseData::Event(d) => event(out, d),
        BaseData::Availability(d) => availability(out, d),
        BaseData::Metric(d) => metric(out, d),
    }
}

fn request(out: &mut Vec<u8>, d: &RequestData<'_>) {
    let mut o = Obj::new(out);
    o.str("duration", &d.duration);
    o.str("id", d.id);
    measurements(o.key("measurements"), &d.measurements);
    o.str("name", &d.name);
    str_map(o.key("properties"), &d.properties);
    o.str("responseCode", &d.response_code);
    o.opt_str("source", d.source.as_deref());
    o.bool("success", d.success);
    o.opt_str("url", d.url.as_deref());
    o.uint("ver", d.ver.into());
    o.end();
}

fn dependency(out: &mut Vec<u8>, d: &DependencyData<'_>) {
    let mut o = Obj::new(out);
    o.opt_str("data", d.data.as_deref());
    o.str("duration", &d.duration);
    o.str("id", d.id);
    measurements(o.key("measurements"), &d.measurements);
    o.str("name", &d.name);
    str_map(o.key("properties"), &d.properties);
    o.str("resultCode", &d.result_code);
    o.bool("success", d.success);
    o.opt_str("target", d.target.as_deref());
    o.opt_str("type", d.dep_type.as_deref());
    o.uint("ver", d.ver.into());
    o.end();
}

fn message(out: &mut Vec<u8>, d: &MessageData<'_>) {
    let mut o = Obj::new(out);
    measurements(o.key("measurements"), &d.measurements);
    o.str("message", &d.message);
    str_map(o.key("properties"), &d.properties);
    o.num("severityLevel", &d.severity_level);
    o.uint("ver", d.ver.into());
    o.end();
}

fn exception(out: &mut Vec<u8>, d: &ExceptionData<'_>) {
    let mut o = Obj::new(out);
    {
        let list = o.key("exceptions");
        list.push(b'[');
        for (i, x) in d.exceptions.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            let mut e = Obj::new(list);
            e.bool("hasFullStack", x.has_full_stack);
            if let Some(id) = x.id {
                e.num("id", &id);
            }
            e.str("message", &x.message);
            if let Some(id) = x.outer_id {
                e.num("outerId", &id);
            }
            e.opt_str("stack", x.stack.as_deref());
            e.str("typeName", &x.type_name);
            e.end();
        }
        list.push(b']');
    }
    measurements(o.key("measurements"), &d.measurements);
    str_map(o.key("properties"), &d.properties);
    o.num("severityLevel", &d.severity_level);
    o.uint("ver", d.ver.into());
    o.end();
}

fn event(out: &mut Vec<u8>, d: &EventData<'_>) {
    let mut o = Obj::new(out);
    measurements(o.key("measurements"), &d.measurements);
    o.str("name", &d.name);
    str_map(o.key("properties"), &d.properties);
    o.uint("ver", d.ver.into());
    o.end();
}

fn availability(out: &mut Vec<u8>, d: &AvailabilityData<'_>) {
    let mut o = Obj::new(out);
    o.str("duration", &d.duration);
    o.str("id", &d.id);
    measurements(o.key("measurements"), &d.measurements);
    o.opt_str("message", d.message.as_deref());
    o.str("name", &d.name);
    str_map(o.key("properties"), &d.properties);
    o.opt_str("runLocation", d.run_location.as_deref());
    o.bool("success", d.success);
    o.uint("ver", d.ver.into());
    o.end();
}

fn metric(out: &mut Vec<u8>, d: &MetricData<'_>) {
    let mut o = Obj::new(out);
    {
        let list = o.key("metrics");
        list.push(b'[');
        for (i, m) in d.metrics.iter().enumerate() {
            if i > 0 {
                list.push(b',');
            }
            let mut p = Obj::new(list);
            if let Some(c) = m.count {
                p.uint("count", c);
            }
            if let Some(v) = m.max {
                p.num("max", &v);
            }
            if let Some(v) = m.min {
                p.num("min", &v);
            }
            p.str("name", &m.name);
            p.num("value", &m.value);
            p.end();
        }
        list.push(b']');
    }
    str_map(o.key("properties"), &d.properties);
    o.uint("ver", d.ver.into());
    o.end();
}

fn str_map(out: &mut Vec<u8>, m: &StrMap<'_>) {
    let mut o = Obj::new(out);
    for (k, v) in m.iter() {
        o.entry(k, v);
    }
    o.end();
}

fn measurements(out: &mut Vec<u8>, m: &Map<String, Value>) {
    if m.is_empty() {
        out.extend_from_slice(b"{}");
    } else {
        number(out, m);
    }
}

/// A value through `serde_json` (numbers, the rare measurement map): its exact text.
fn number<T: Serialize + ?Sized>(out: &mut Vec<u8>, v: &T) {
    // Writing numbers and maps of numbers to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, v);
}

/// One JSON object being written: a comma before every key but the first.
struct Obj<'o> {
    out: &'o mut Vec<u8>,
    first: bool,
}

impl<'o> Obj<'o> {
    fn new(out: &'o mut Vec<u8>) -> Self {
        out.push(b'{');
        Self { out, first: true }
    }

    /// Writes `"key":` for one of the schema's own keys (plain ASCII: nothing to escape)
    /// and returns the output for the value.
    fn key(&mut self, key: &'static str) -> &mut Vec<u8> {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
        self.out
    }

    fn str(&mut self, key: &'static str, v: &str) {
        write_str(self.key(key), v);
    }

    /// A key-value pair whose key comes from the application (escaped as needed).
    fn entry(&mut self, key: &str, v: &str) {
        if !self.first {
            self.out.push(b',');
        }
        self.first = false;
        write_str(self.out, key);
        self.out.push(b':');
        write_str(self.out, v);
    }

    fn opt_str(&mut self, key: &'static str, v: Option<&str>) {
        if let Some(v) = v {
            self.str(key, v);
        }
    }

    fn bool(&mut self, key: &'static str, v: bool) {
        let t: &[u8] = if v { b"true" } else { b"false" };
        self.key(key).extend_from_slice(t);
    }

    fn uint(&mut self, key: &'static str, v: u64) {
        // Writing to a `Vec` cannot fail.
        let _ = write_decimal(&mut Bytes(self.key(key)), v);
    }

    fn num<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) {
        number(self.key(key), v);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes `s` as a JSON string literal, escaped exactly as `serde_json` escapes it (the
/// correlation crate's writer, checking eight bytes at a time).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    // One capacity check for the common escape-free string.
    out.reserve(s.len() + 2);
    // Writing to a `Vec` cannot fail.
    let _ = write_json_str(&mut Bytes(out), s);
}

/// The envelope's byte buffer as a `fmt::Write` for the correlation crate's writers: they
/// write only whole `str`s, so the bytes stay UTF-8.
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    #[inline]
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }

    #[inline]
    fn write_char(&mut self, c: char) -> fmt::Result {
        if c.is_ascii() {
            // An ASCII char is its own one byte.
            self.0.push(c as u8);
        } else {
            self.0
                .extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn escapes_exactly_like_serde_json(s in "\\PC*|[\\x00-\\x7f]{0,40}|.{0,20}") {
            let mut ours = Vec::new();
            write_str(&mut ours, &s);
            proptest::prop_assert_eq!(ours, serde_json::to_vec(&s).unwrap());
        }
    }
}

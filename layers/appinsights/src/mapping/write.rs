//! The envelope written as JSON by hand, field by field in the order `serde_json` writes
//! its `Value` (sorted keys), with strings checked for escapes eight bytes at a time.
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
        let out = self.key(key);
        let mut tmp = [0u8; 20];
        let mut i = tmp.len();
        let mut v = v;
        loop {
            i -= 1;
            tmp[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        out.extend_from_slice(&tmp[i..]);
    }

    fn num<T: Serialize + ?Sized>(&mut self, key: &'static str, v: &T) {
        number(self.key(key), v);
    }

    fn end(self) {
        self.out.push(b'}');
    }
}

/// Writes `s` as a JSON string literal, escaped exactly as `serde_json` escapes it (`"`,
/// `\` and control characters; the short forms where JSON has them).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let clean = clean_prefix(bytes);
    if clean == bytes.len() {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate().skip(clean) {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// How many leading bytes of `s` need no JSON escape (no `"`, `\` or control character).
fn clean_prefix(s: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte of `x` is zero, or (for `below`) below `n`; which
    // byte it marks may be off above a true hit, so the byte-wise scan settles where.
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below = |x: u64, n: u64| x.wrapping_sub(ONES * n) & !x & HIGH;
    let mut i = 0;
    while i < s.len() {
        // The last chunk is padded with a byte that needs no escape.
        let n = (s.len() - i).min(8);
        let mut b = [b'a'; 8];
        b[..n].copy_from_slice(&s[i..i + n]);
        let x = u64::from_le_bytes(b);
        let quote = has_zero(x ^ (ONES * u64::from(b'"')));
        let backslash = has_zero(x ^ (ONES * u64::from(b'\\')));
        if below(x, 0x20) | quote | backslash != 0 {
            break;
        }
        i += n;
    }
    while let Some(&b) = s.get(i) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            break;
        }
        i += 1;
    }
    i
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

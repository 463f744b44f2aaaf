//! An order-preserving JSON value for scenario files (attribute and body key order matters
//! when a map is passed on as JSON text), without changing `serde_json`'s features for the
//! whole workspace.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A JSON value whose objects keep their key order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum J {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

impl J {
    pub(crate) fn get(&self, key: &str) -> Option<&J> {
        match self {
            J::Obj(items) => items.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }
    pub(crate) fn str(&self) -> Option<&str> {
        match self {
            J::Str(s) => Some(s),
            _ => None,
        }
    }
    pub(crate) fn f64(&self) -> Option<f64> {
        match *self {
            J::I64(v) => Some(v as f64),
            J::U64(v) => Some(v as f64),
            J::F64(v) => Some(v),
            _ => None,
        }
    }
    pub(crate) fn arr(&self) -> &[J] {
        match self {
            J::Arr(v) => v,
            _ => &[],
        }
    }
    pub(crate) fn obj(&self) -> &[(String, J)] {
        match self {
            J::Obj(v) => v,
            _ => &[],
        }
    }

    /// JSON text with Python `json.dumps` default separators (`, ` and `: `), keys in order.
    pub(crate) fn to_python_json(&self) -> String {
        match self {
            J::Null => "null".into(),
            J::Bool(b) => b.to_string(),
            J::I64(v) => v.to_string(),
            J::U64(v) => v.to_string(),
            J::F64(v) => tracing_insights_appinsights::text::py_float(*v),
            J::Str(s) => serde_json::to_string(s).unwrap_or_default(),
            J::Arr(items) => format!(
                "[{}]",
                items
                    .iter()
                    .map(J::to_python_json)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            J::Obj(items) => format!(
                "{{{}}}",
                items
                    .iter()
                    .map(|(k, v)| format!(
                        "{}: {}",
                        serde_json::to_string(k).unwrap_or_default(),
                        v.to_python_json()
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Expands the scenario string macro `{{C*N}}` in every string and key.
    pub(crate) fn expand(self) -> J {
        match self {
            J::Str(s) => J::Str(expand_macro(&s)),
            J::Arr(v) => J::Arr(v.into_iter().map(J::expand).collect()),
            J::Obj(v) => J::Obj(
                v.into_iter()
                    .map(|(k, v)| (expand_macro(&k), v.expand()))
                    .collect(),
            ),
            other => other,
        }
    }
}

/// `{{C*N}}` → C repeated N times.
pub(crate) fn expand_macro(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let mut chars = after.char_indices();
        let parsed = (|| {
            let (_, c) = chars.next()?;
            let (star, s2) = chars.next()?;
            if s2 != '*' {
                return None;
            }
            let num_start = star + 1;
            let end = after[num_start..].find("}}")? + num_start;
            let n: usize = after[num_start..end].parse().ok()?;
            Some((c, n, end + 2))
        })();
        match parsed {
            Some((c, n, consumed)) => {
                out.extend(std::iter::repeat_n(c, n));
                rest = &after[consumed..];
            }
            None => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

struct JVisitor;

impl<'de> Visitor<'de> for JVisitor {
    type Value = J;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON")
    }
    fn visit_unit<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_none<E>(self) -> Result<J, E> {
        Ok(J::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<J, E> {
        Ok(J::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<J, E> {
        Ok(J::I64(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<J, E> {
        Ok(match i64::try_from(v) {
            Ok(i) => J::I64(i),
            Err(_) => J::U64(v),
        })
    }
    fn visit_f64<E>(self, v: f64) -> Result<J, E> {
        Ok(J::F64(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<J, E> {
        Ok(J::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<J, E> {
        Ok(J::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = seq.next_element()? {
            v.push(x);
        }
        Ok(J::Arr(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<J, A::Error> {
        let mut v = Vec::new();
        while let Some((k, x)) = map.next_entry::<String, J>()? {
            v.push((k, x));
        }
        Ok(J::Obj(v))
    }
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        d.deserialize_any(JVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_expands() {
        assert_eq!(expand_macro("a{{x*3}}b"), "axxxb");
        assert_eq!(expand_macro("{{€*2}}"), "€€");
        assert_eq!(expand_macro("{{nope}}"), "{{nope}}");
    }

    #[test]
    fn keeps_order_and_python_format() {
        let j: J =
            serde_json::from_str(r#"{"event": "login", "user": "bob", "attempt": 2}"#).unwrap();
        assert_eq!(
            j.to_python_json(),
            r#"{"event": "login", "user": "bob", "attempt": 2}"#
        );
    }
}

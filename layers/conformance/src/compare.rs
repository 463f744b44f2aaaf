//! Field-by-field comparison of captured envelopes with the recorded ones.

use crate::deviations;
use serde_json::Value;
use std::collections::BTreeSet;

/// One difference between an expected and an actual envelope (or a missing/extra one).
#[derive(Debug, Clone)]
pub(crate) struct Diff {
    pub(crate) envelope: String,
    pub(crate) path: String,
    pub(crate) expected: Option<Value>,
    pub(crate) actual: Option<Value>,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<Value>| match v {
            None => "(absent)".to_owned(),
            Some(v) => {
                let s = v.to_string();
                if s.chars().count() > 160 {
                    format!(
                        "{}…({} chars)",
                        s.chars().take(160).collect::<String>(),
                        s.chars().count()
                    )
                } else {
                    s
                }
            }
        };
        write!(
            f,
            "{} {}: expected {} got {}",
            self.envelope,
            self.path,
            show(&self.expected),
            show(&self.actual)
        )
    }
}

/// Whether `path` is an SDK/language-only field that is normalised, not compared.
fn normalised(path: &str) -> bool {
    path == "tags.ai.internal.sdkVersion"
        || path.starts_with("data.baseData.properties.telemetry.sdk.")
}

/// Does `expected` (which may contain markers such as `<HOSTNAME>`) match `actual`?
pub(crate) fn str_matches(expected: &str, actual: &str) -> bool {
    // Split on markers `<UPPER_CASE>`; literal parts must appear in order.
    let mut parts = Vec::new();
    let mut rest = expected;
    let mut has_marker = false;
    while let Some(i) = rest.find('<') {
        let Some(j) = rest[i..].find('>') else { break };
        let inner = &rest[i + 1..i + j];
        if !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_' || b.is_ascii_digit())
        {
            parts.push(&rest[..i]);
            rest = &rest[i + j + 1..];
            has_marker = true;
        } else {
            break;
        }
    }
    if !has_marker {
        return expected == actual;
    }
    parts.push(rest);
    let mut pos = 0;
    let last = parts.len() - 1;
    for (n, p) in parts.iter().enumerate() {
        if n == 0 {
            if !actual.starts_with(p) {
                return false;
            }
            pos = p.len();
        } else if n == last {
            return actual.len() >= pos + p.len()
                && actual[pos..].ends_with(p)
                && actual.len() > pos;
        } else {
            match actual[pos..].find(p) {
                Some(k) => pos += k + p.len(),
                None => return false,
            }
        }
    }
    true
}

fn values_match(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(e), Value::String(a)) => str_matches(e, a),
        (Value::Number(e), Value::Number(a)) => e.as_f64() == a.as_f64(),
        (Value::String(e), _) if e.starts_with('<') && e.ends_with('>') => true,
        (e, a) => e == a,
    }
}

fn diff_value(env: &str, path: &str, expected: &Value, actual: &Value, out: &mut Vec<Diff>) {
    if normalised(path) {
        return;
    }
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => diff_value(env, &p, ev, av, out),
                    None if normalised(&p) => {}
                    None => out.push(Diff {
                        envelope: env.into(),
                        path: p,
                        expected: Some(ev.clone()),
                        actual: None,
                    }),
                }
            }
            for (k, av) in a {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if !e.contains_key(k) && !normalised(&p) {
                    out.push(Diff {
                        envelope: env.into(),
                        path: p,
                        expected: None,
                        actual: Some(av.clone()),
                    });
                }
            }
        }
        (Value::Array(e), Value::Array(a)) if e.len() == a.len() => {
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff_value(env, &format!("{path}[{i}]"), ev, av, out);
            }
        }
        (e, a) => {
            if !values_match(e, a) {
                out.push(Diff {
                    envelope: env.into(),
                    path: path.into(),
                    expected: Some(e.clone()),
                    actual: Some(a.clone()),
                });
            }
        }
    }
}

fn label(env: &Value) -> String {
    let name = env["name"]
        .as_str()
        .unwrap_or("?")
        .rsplit('.')
        .next()
        .unwrap_or("?")
        .to_owned();
    let bd = &env["data"]["baseData"];
    let id = bd["id"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| bd["metrics"][0]["name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{name}[{id}@{}]", env["time"].as_str().unwrap_or(""))
}

/// The identity an envelope is matched on: type, id (or metric name) and time.
fn same_identity(e: &Value, a: &Value) -> bool {
    let bd_e = &e["data"]["baseData"];
    let bd_a = &a["data"]["baseData"];
    e["name"] == a["name"]
        && bd_e["id"] == bd_a["id"]
        && bd_e["metrics"][0]["name"] == bd_a["metrics"][0]["name"]
        && match (e["time"].as_str(), a["time"].as_str()) {
            (Some(et), Some(at)) => str_matches(et, at),
            _ => false,
        }
}

/// The verdict of one scenario.
#[derive(Debug, Default)]
pub(crate) struct Verdict {
    pub(crate) failures: Vec<Diff>,
    pub(crate) deviations: BTreeSet<&'static str>,
    pub(crate) deviation_diffs: Vec<(&'static str, Diff)>,
}

/// Compares every expected envelope with its captured counterpart (a set, matched by type,
/// id and time), and the request line and compared headers.
pub(crate) fn compare(
    expected_file: &Value,
    captured: &[crate::receiver::Captured],
    via: deviations::Path,
) -> Verdict {
    let mut v = Verdict::default();
    let mut actual: Vec<Value> = Vec::new();
    let exp_req = &expected_file["requests"][0];
    for req in captured {
        for (field, got) in [("method", &req.method), ("path", &req.path)] {
            if let Some(e) = exp_req[field].as_str() {
                if e != got {
                    v.failures.push(Diff {
                        envelope: "request".into(),
                        path: field.into(),
                        expected: Some(Value::String(e.into())),
                        actual: Some(Value::String(got.clone())),
                    });
                }
            }
        }
        for h in ["content-type", "accept"] {
            if let Some(e) = exp_req["headers"][h].as_str() {
                let got = req.headers.get(h).cloned();
                if got.as_deref() != Some(e) {
                    v.failures.push(Diff {
                        envelope: "request".into(),
                        path: format!("headers.{h}"),
                        expected: Some(Value::String(e.into())),
                        actual: got.map(Value::String),
                    });
                }
            }
        }
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Array(items)) => actual.extend(items),
            _ => v.failures.push(Diff {
                envelope: "request".into(),
                path: "body".into(),
                expected: Some(Value::String("a JSON array".into())),
                actual: Some(Value::String(
                    String::from_utf8_lossy(&req.body)
                        .chars()
                        .take(200)
                        .collect(),
                )),
            }),
        }
    }
    let expected: Vec<Value> = expected_file["envelopes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut used = vec![false; actual.len()];
    for e in &expected {
        let env_label = label(e);
        let mut best: Option<(usize, Vec<Diff>)> = None;
        for (i, a) in actual.iter().enumerate() {
            if used[i] || !same_identity(e, a) {
                continue;
            }
            let mut d = Vec::new();
            diff_value(&env_label, "", e, a, &mut d);
            if best.as_ref().is_none_or(|(_, bd)| d.len() < bd.len()) {
                best = Some((i, d));
            }
        }
        match best {
            Some((i, diffs)) => {
                used[i] = true;
                for d in diffs {
                    // A deviation that belongs to the other replay path is a failure here.
                    match deviations::classify(e, &expected, &d)
                        .filter(|name| deviations::applies(name, via))
                    {
                        Some(name) => {
                            v.deviations.insert(name);
                            v.deviation_diffs.push((name, d));
                        }
                        None => v.failures.push(d),
                    }
                }
            }
            None => v.failures.push(Diff {
                envelope: env_label,
                path: "(envelope)".into(),
                expected: Some(Value::String("present".into())),
                actual: None,
            }),
        }
    }
    let expects_resource_metric = expected
        .iter()
        .any(|e| e["data"]["baseData"]["metrics"][0]["name"] == "_OTELRESOURCE_");
    for (i, a) in actual.iter().enumerate() {
        if !used[i]
            && !expects_resource_metric
            && a["data"]["baseData"]["metrics"][0]["name"] == "_OTELRESOURCE_"
        {
            // Microsoft's exporter sends it with trace batches only; ours with every batch.
            let name = "resource_metric_in_every_batch";
            v.deviations.insert(name);
            v.deviation_diffs.push((
                name,
                Diff {
                    envelope: label(a),
                    path: "(envelope)".into(),
                    expected: None,
                    actual: Some(Value::String("_OTELRESOURCE_".into())),
                },
            ));
            continue;
        }
        if !used[i] {
            if let Some(name) = deviations::classify_extra(a) {
                v.deviations.insert(name);
                v.deviation_diffs.push((
                    name,
                    Diff {
                        envelope: label(a),
                        path: "(envelope)".into(),
                        expected: None,
                        actual: Some(a["data"]["baseData"]["metrics"][0]["name"].clone()),
                    },
                ));
                continue;
            }
            v.failures.push(Diff {
                envelope: label(a),
                path: "(envelope)".into(),
                expected: None,
                actual: Some(Value::String("unexpected envelope".into())),
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_match_any_value_of_their_kind() {
        assert!(str_matches("<HOSTNAME>", "box-1"));
        assert!(!str_matches("<HOSTNAME>", ""));
        assert!(str_matches("unknown_service:<EXE>", "unknown_service:app"));
        assert!(!str_matches("unknown_service:<EXE>", "svc:app"));
        assert!(str_matches("plain", "plain"));
        assert!(!str_matches("plain", "other"));
    }
}

//! The collection configuration's unit tests.

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

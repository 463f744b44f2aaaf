//! Request/dependency classification and success rules, shared by the Application Insights
//! layer and the Live Metrics layer so both count the same thing, following Microsoft's
//! exporter: SERVER/CONSUMER spans are requests, the rest dependencies typed by their fields.

use tracing_insights_correlation::FieldValue;

/// What a span becomes in Application Insights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TelemetryType {
    /// `Microsoft.ApplicationInsights.Request` (server and consumer spans).
    Request,
    /// `Microsoft.ApplicationInsights.RemoteDependency` (client, producer, internal spans).
    Dependency,
}

/// The span kinds, as OpenTelemetry names them (`otel.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `server`.
    Server,
    /// `client`.
    Client,
    /// `producer`.
    Producer,
    /// `consumer`.
    Consumer,
    /// `internal`.
    Internal,
}

/// Server and consumer spans are requests; the rest are dependencies.
pub fn telemetry_type(kind: Kind) -> TelemetryType {
    match kind {
        Kind::Server | Kind::Consumer => TelemetryType::Request,
        Kind::Client | Kind::Producer | Kind::Internal => TelemetryType::Dependency,
    }
}

/// A request's `success`: not an error status, and an HTTP status (when the span is an HTTP
/// request) that is present, non-zero, below 400 — and, unlike Microsoft's Python exporter,
/// not 5xx either (see the conformance crate's DEVIATIONS.md, `server_5xx_is_failure`).
/// `http_status` is `None` for non-HTTP requests, `Some(None)` for an HTTP request whose
/// status is missing or unparsable.
pub fn request_success(status_is_error: bool, http_status: Option<Option<i64>>) -> bool {
    if status_is_error {
        return false;
    }
    match http_status {
        None => true,
        Some(None) | Some(Some(0)) => false,
        Some(Some(code)) => !(400..=599).contains(&code),
    }
}

/// A dependency's `success`: anything but an error status (the span's status is the
/// instrumentation's verdict, as in OpenTelemetry).
pub fn dependency_success(status_is_error: bool) -> bool {
    !status_is_error
}

/// The App Insights dependency `type` for a database system (`db.system.name`/`db.system`).
pub fn db_type(system: &str) -> &str {
    match system {
        "mysql" => "mysql",
        "postgresql" => "postgresql",
        "mongodb" => "mongodb",
        "redis" => "redis",
        "db2"
        | "ibm.db2"
        | "derby"
        | "mariadb"
        | "mssql"
        | "microsoft.sql_server"
        | "oracle"
        | "oracle.db"
        | "sqlite"
        | "other_sql"
        | "hsqldb"
        | "h2"
        | "h2database" => "SQL",
        other => other,
    }
}

/// The default port of a database system, if it has one.
pub fn default_db_port(system: &str) -> Option<u16> {
    Some(match system {
        "postgresql" => 5432,
        "cassandra" => 9042,
        "mysql" | "mariadb" => 3306,
        "mssql" | "microsoft.sql_server" => 1433,
        "memcached" => 11211,
        "db2" | "ibm.db2" => 50000,
        "oracle" | "oracle.db" => 1521,
        "h2" | "h2database" => 8082,
        "derby" => 1527,
        "redis" => 6379,
        _ => return None,
    })
}

/// The default port of a URL scheme (`http` 80, `https` 443, otherwise 0 as in Microsoft's
/// exporter, which then keeps every port).
pub fn default_http_port(scheme: Option<&str>) -> u16 {
    match scheme {
        Some(s) if s.eq_ignore_ascii_case("http") => 80,
        Some(s) if s.eq_ignore_ascii_case("https") => 443,
        _ => 0,
    }
}

/// Whether an event is an exception, for every Azure layer (Application Insights makes it an
/// Exception envelope; Live Metrics counts it in `Exceptions/Sec`): it has a field recorded as
/// `&dyn Error`, an `exception.type` or `exception.message` field, or its message is
/// `exception` (OpenTelemetry's span-event name for one).
pub fn is_exception(fields: &[(&'static str, FieldValue)]) -> bool {
    fields.iter().any(|(name, value)| {
        matches!(value, FieldValue::Error(_))
            || *name == "exception.type"
            || *name == "exception.message"
            || (*name == "message" && value.as_str() == Some("exception"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_success_rules() {
        assert!(request_success(false, None));
        assert!(!request_success(true, None));
        assert!(request_success(false, Some(Some(200))));
        assert!(!request_success(false, Some(Some(404))));
        assert!(!request_success(false, Some(Some(500))));
        assert!(!request_success(false, Some(None)));
        assert!(dependency_success(false));
    }

    #[test]
    fn db_types() {
        assert_eq!(db_type("mssql"), "SQL");
        assert_eq!(db_type("cosmosdb"), "cosmosdb");
        assert_eq!(default_db_port("redis"), Some(6379));
        assert_eq!(default_http_port(Some("HTTPS")), 443);
        assert_eq!(telemetry_type(Kind::Consumer), TelemetryType::Request);
    }
}

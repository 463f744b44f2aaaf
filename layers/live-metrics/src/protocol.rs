//! Wire details of the QuickPulse protocol (header names, API version, time formats, the
//! redirect rule) as small pure functions.

// Items re-exported by the `testing` module are `pub`; without that feature only the
// crate reaches them, and the accessors only the tests call are unused.
#![cfg_attr(not(feature = "testing"), allow(unreachable_pub, dead_code))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The `api-version` query parameter.
pub const API_VERSION: &str = "2024-04-01-preview";
/// `x-ms-qps-invariant-version` and the body's `InvariantVersion`.
pub const INVARIANT_VERSION: u32 = 5;

/// Request header: .NET ticks of the send time.
pub(crate) const H_TRANSMISSION_TIME: &str = "x-ms-qps-transmission-time";
/// Request header: host name.
pub(crate) const H_MACHINE_NAME: &str = "x-ms-qps-machine-name";
/// Request header: role instance.
pub(crate) const H_INSTANCE_NAME: &str = "x-ms-qps-instance-name";
/// Request header: this process's stream id.
pub(crate) const H_STREAM_ID: &str = "x-ms-qps-stream-id";
/// Request header: cloud role name.
pub(crate) const H_ROLE_NAME: &str = "x-ms-qps-role-name";
/// Request header: invariant version.
pub(crate) const H_INVARIANT_VERSION: &str = "x-ms-qps-invariant-version";
/// Request and response header: the collection configuration's etag.
pub(crate) const H_CONFIGURATION_ETAG: &str = "x-ms-qps-configuration-etag";
/// Response header: `"true"` when somebody watches the stream.
pub(crate) const H_SUBSCRIBED: &str = "x-ms-qps-subscribed";
/// Response header: how long to wait before the next ping, in ms.
pub(crate) const H_POLLING_INTERVAL_HINT: &str = "x-ms-qps-service-polling-interval-hint";
/// Response header: the endpoint to use from now on.
pub(crate) const H_ENDPOINT_REDIRECT: &str = "x-ms-qps-service-endpoint-redirect-v2";

// The host suffixes a redirect may point to (the list Microsoft's exporter accepts for
// cross-host redirects): the same list the ingestion exporter follows.
use tracing_insights_azure::ALLOWED_REDIRECT_SUFFIXES;

/// Where a `x-ms-qps-service-endpoint-redirect-v2` value may take us: `Some("https://host[:port]")`
/// when the value is an `https` URI with no userinfo whose host ends with one of
/// [`ALLOWED_REDIRECT_SUFFIXES`], `None` (refused) otherwise. The path is dropped, as
/// Microsoft's exporter does.
///
/// ```
/// # #[cfg(feature = "testing")] {
/// use tracing_insights_live_metrics::testing::redirect_target;
/// assert_eq!(
///     redirect_target("https://westeurope.livediagnostics.monitor.azure.com/QuickPulseService.svc"),
///     Some("https://westeurope.livediagnostics.monitor.azure.com".to_owned())
/// );
/// assert_eq!(redirect_target("http://127.0.0.1:40905/"), None);
/// assert_eq!(redirect_target("https://evil.example.com/"), None);
/// # }
/// ```
pub fn redirect_target(value: &str) -> Option<String> {
    let value = value.trim();
    let (scheme, rest) = value.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || authority.contains('[') {
        return None;
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err() {
                return None;
            }
            (h, Some(p))
        }
        None => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    let valid_chars = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid_chars || host.starts_with('.') || host.contains("..") {
        return None;
    }
    if !ALLOWED_REDIRECT_SUFFIXES
        .iter()
        .any(|s| host.len() > s.len() && host.ends_with(s))
    {
        return None;
    }
    Some(match port {
        Some(p) => format!("https://{host}:{p}"),
        None => format!("https://{host}"),
    })
}

/// .NET ticks (100 ns since 0001-01-01) of `t`, as `x-ms-qps-transmission-time` wants.
pub fn dotnet_ticks(t: SystemTime) -> u64 {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    621_355_968_000_000_000 + since.as_secs() * 10_000_000 + u64::from(since.subsec_nanos() / 100)
}

/// RFC 3339 UTC with microseconds, e.g. `2026-11-22T00:07:33.583429Z`.
pub(crate) fn rfc3339_micros(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t.max(UNIX_EPOCH)).to_string()
}

/// A document `Duration` as ISO 8601 (`PT0.0105S`, `PT1M2.5S`, `P1DT2H0M0S`), the form the
/// spec asks for (Microsoft's Python sends a malformed string here).
pub fn iso8601_duration(d: Duration) -> String {
    let total = d.as_secs();
    let days = total / 86_400;
    let hours = (total / 3600) % 24;
    let minutes = (total / 60) % 60;
    let secs = total % 60;
    let nanos = d.subsec_nanos();
    let mut s = String::from("P");
    if days > 0 {
        s.push_str(&format!("{days}D"));
    }
    s.push('T');
    if days > 0 || hours > 0 {
        s.push_str(&format!("{hours}H"));
    }
    if days > 0 || hours > 0 || minutes > 0 {
        s.push_str(&format!("{minutes}M"));
    }
    if nanos == 0 {
        s.push_str(&format!("{secs}S"));
    } else {
        let frac = format!("{nanos:09}");
        s.push_str(&format!("{secs}.{}S", frac.trim_end_matches('0')));
    }
    s
}

/// A fresh stream id: 32 lower-case hex digits.
pub(crate) fn new_stream_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects() {
        assert_eq!(
            redirect_target("https://rt.services.visualstudio.com:443/x?y"),
            Some("https://rt.services.visualstudio.com:443".into())
        );
        assert_eq!(
            redirect_target("HTTPS://A.Monitor.Azure.COM"),
            Some("https://a.monitor.azure.com".into())
        );
        assert_eq!(redirect_target("https://user@a.monitor.azure.com/"), None);
        assert_eq!(redirect_target("https://monitor.azure.com/"), None);
        assert_eq!(
            redirect_target("https://a.monitor.azure.com.evil.com/"),
            None
        );
        assert_eq!(redirect_target("https://evilmonitor.azure.com/"), None);
        assert_eq!(redirect_target("http://a.monitor.azure.com/"), None);
        assert_eq!(redirect_target("https://a.monitor.azure.com:x/"), None);
        assert_eq!(redirect_target("https://[::1]/"), None);
        assert_eq!(redirect_target(""), None);
        assert_eq!(redirect_target("garbage"), None);
    }

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_306_053_583_429);
        assert_eq!(rfc3339_micros(t), "2026-11-22T00:07:33.583429Z");
        assert_eq!(dotnet_ticks(UNIX_EPOCH), 621_355_968_000_000_000);
        assert_eq!(iso8601_duration(Duration::from_micros(10_500)), "PT0.0105S");
        assert_eq!(iso8601_duration(Duration::from_secs(62)), "PT1M2S");
        assert_eq!(iso8601_duration(Duration::from_secs(90_000)), "P1DT1H0M0S");
        assert_eq!(iso8601_duration(Duration::ZERO), "PT0S");
    }
}

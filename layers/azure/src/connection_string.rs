//! The Application Insights connection string: `;`-separated `Key=Value` pairs
//! (`InstrumentationKey`, `IngestionEndpoint`, `LiveEndpoint`, `EndpointSuffix`, `Location`,
//! `AADAudience`, `ApplicationId`, `Authorization`).

use std::fmt;
use std::str::FromStr;

/// The environment variable read when no connection string is given in code.
pub const CONNECTION_STRING_ENV: &str = "APPLICATIONINSIGHTS_CONNECTION_STRING";
/// The ingestion endpoint when neither `IngestionEndpoint` nor `EndpointSuffix` is given.
pub const DEFAULT_INGESTION_ENDPOINT: &str = "https://dc.services.visualstudio.com";
/// The Live Metrics endpoint when neither `LiveEndpoint` nor `EndpointSuffix` is given.
pub const DEFAULT_LIVE_ENDPOINT: &str = "https://rt.services.visualstudio.com";

/// How telemetry is authorised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Authorization {
    /// The instrumentation key alone (`Authorization=ikey`, or no `Authorization`).
    #[default]
    InstrumentationKey,
    /// Microsoft Entra ID (`Authorization=AAD`): a bearer token is required as well.
    EntraId,
}

/// A parsed Application Insights connection string.
///
/// ```
/// use tracing_insights_azure::ConnectionString;
/// let cs: ConnectionString = "InstrumentationKey=00000000-0000-0000-0000-000000000000;\
///     EndpointSuffix=applicationinsights.azure.cn;Location=chinaeast2".parse().unwrap();
/// assert_eq!(cs.ingestion_endpoint(), "https://chinaeast2.dc.applicationinsights.azure.cn");
/// assert_eq!(cs.track_url(), "https://chinaeast2.dc.applicationinsights.azure.cn/v2.1/track");
/// assert!(!format!("{cs:?}").contains("00000000-0000"));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionString {
    instrumentation_key: String,
    ingestion_endpoint: String,
    live_endpoint: String,
    aad_audience: Option<String>,
    application_id: Option<String>,
    authorization: Authorization,
}

impl fmt::Debug for ConnectionString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionString")
            .field("instrumentation_key", &"<redacted>")
            .field("ingestion_endpoint", &self.ingestion_endpoint)
            .field("live_endpoint", &self.live_endpoint)
            .field("aad_audience", &self.aad_audience)
            .field("application_id", &self.application_id)
            .field("authorization", &self.authorization)
            .finish()
    }
}

/// What is wrong with a connection string, and what to fix.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionStringError {
    /// Nothing configured: no string in code and no environment variable.
    #[error("no Application Insights connection string: pass one to the builder or set {CONNECTION_STRING_ENV} (copy it from the resource's Overview page in the Azure portal)")]
    NotConfigured,
    /// The string is empty or only separators.
    #[error("the Application Insights connection string is empty; it should look like `InstrumentationKey=<guid>;IngestionEndpoint=https://...`")]
    Empty,
    /// A segment is not `key=value`.
    #[error("connection string segment {segment:?} is not `key=value`")]
    MalformedPair {
        /// The offending segment (never the instrumentation key's value).
        segment: String,
    },
    /// No `InstrumentationKey`.
    #[error("the connection string has no `InstrumentationKey=<guid>`")]
    MissingInstrumentationKey,
    /// The key is not a GUID.
    #[error("`InstrumentationKey` is not a GUID (expected 8-4-4-4-12 hex digits, e.g. 00000000-0000-0000-0000-000000000000)")]
    InvalidInstrumentationKey,
    /// An endpoint is not an `http://` or `https://` URL with a host.
    #[error("`{key}` must be an http:// or https:// URL with a host (IPv6 in closed brackets) and, if given, a port from 1 to 65535, got {value:?}")]
    InvalidEndpoint {
        /// The connection-string key (`IngestionEndpoint`, `LiveEndpoint`, `EndpointSuffix`).
        key: &'static str,
        /// The value given.
        value: String,
    },
    /// `Authorization` is neither `ikey` nor `AAD`.
    #[error("`Authorization={value}` is not supported: use `ikey` or `AAD`")]
    UnsupportedAuthorization {
        /// The value given.
        value: String,
    },
}

impl FromStr for ConnectionString {
    type Err = ConnectionStringError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

fn valid_guid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn endpoint(key: &'static str, value: &str) -> Result<String, ConnectionStringError> {
    let bad = || ConnectionStringError::InvalidEndpoint {
        key,
        value: value.to_owned(),
    };
    let lower = value.to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &value[8..]
    } else if lower.starts_with("http://") {
        &value[7..]
    } else {
        return Err(bad());
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(bad());
    }
    // Unclosed IPv6 brackets (`http://[::1`), a port beyond 65535 or 0.
    tracing_insights_export::endpoint::check_endpoint(value).map_err(|_| bad())?;
    Ok(value.to_owned())
}

impl ConnectionString {
    /// Parses `key=value;key=value`. Keys are case-insensitive; whitespace around keys and
    /// values and empty segments (a trailing `;`) are ignored; a value may contain `=`;
    /// unknown keys are ignored. `http://` endpoints stay `http://`.
    pub fn parse(s: &str) -> Result<Self, ConnectionStringError> {
        let mut ikey = None;
        let mut ingestion = None;
        let mut live = None;
        let mut suffix = None;
        let mut location = None;
        let mut aad_audience = None;
        let mut application_id = None;
        let mut authorization = Authorization::InstrumentationKey;
        let mut any = false;
        for segment in s.split(';') {
            let segment = segment.trim();
            if segment.is_empty() {
                continue;
            }
            any = true;
            let Some((k, v)) = segment.split_once('=') else {
                return Err(ConnectionStringError::MalformedPair {
                    segment: segment.to_owned(),
                });
            };
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() {
                return Err(ConnectionStringError::MalformedPair {
                    segment: segment.to_owned(),
                });
            }
            let v = (!v.is_empty()).then(|| v.to_owned());
            match k.to_ascii_lowercase().as_str() {
                "instrumentationkey" => ikey = v,
                "ingestionendpoint" => ingestion = v,
                "liveendpoint" => live = v,
                "endpointsuffix" => suffix = v,
                "location" => location = v,
                "aadaudience" => aad_audience = v,
                "applicationid" => application_id = v,
                "authorization" => {
                    authorization = match v.as_deref() {
                        None => Authorization::InstrumentationKey,
                        Some(a) if a.eq_ignore_ascii_case("ikey") => {
                            Authorization::InstrumentationKey
                        }
                        Some(a) if a.eq_ignore_ascii_case("aad") => Authorization::EntraId,
                        Some(a) => {
                            return Err(ConnectionStringError::UnsupportedAuthorization {
                                value: a.to_owned(),
                            })
                        }
                    }
                }
                _ => {}
            }
        }
        if !any {
            return Err(ConnectionStringError::Empty);
        }
        let ikey = ikey.ok_or(ConnectionStringError::MissingInstrumentationKey)?;
        if !valid_guid(&ikey) {
            return Err(ConnectionStringError::InvalidInstrumentationKey);
        }
        let from_suffix = |service: &str| {
            suffix.as_ref().map(|sfx| {
                let sfx = sfx.trim_start_matches('.');
                match &location {
                    Some(loc) => format!("https://{loc}.{service}.{sfx}"),
                    None => format!("https://{service}.{sfx}"),
                }
            })
        };
        let ingestion_endpoint = match ingestion {
            Some(v) => endpoint("IngestionEndpoint", &v)?,
            None => match from_suffix("dc") {
                Some(v) => endpoint("EndpointSuffix", &v)?,
                None => DEFAULT_INGESTION_ENDPOINT.to_owned(),
            },
        };
        let live_endpoint = match live {
            Some(v) => endpoint("LiveEndpoint", &v)?,
            None => match from_suffix("live") {
                Some(v) => endpoint("EndpointSuffix", &v)?,
                None => DEFAULT_LIVE_ENDPOINT.to_owned(),
            },
        };
        Ok(Self {
            instrumentation_key: ikey.to_ascii_lowercase(),
            ingestion_endpoint,
            live_endpoint,
            aad_audience,
            application_id,
            authorization,
        })
    }

    /// The connection string from code if given, else from
    /// `APPLICATIONINSIGHTS_CONNECTION_STRING` (builder > environment).
    pub fn resolve(explicit: Option<&str>) -> Result<Self, ConnectionStringError> {
        Self::resolve_in(explicit, &crate::env::Env::process())
    }

    /// [`resolve`](Self::resolve) reading the variable from `env`.
    pub fn resolve_in(
        explicit: Option<&str>,
        env: &crate::env::Env,
    ) -> Result<Self, ConnectionStringError> {
        match explicit {
            Some(s) => Self::parse(s),
            None => match env.var(CONNECTION_STRING_ENV) {
                Some(s) => Self::parse(&s),
                None => Err(ConnectionStringError::NotConfigured),
            },
        }
    }

    /// The instrumentation key (lower-case GUID), sent as every envelope's `iKey`.
    /// Treat it as a secret: it is not shown by `Debug`.
    pub fn instrumentation_key(&self) -> &str {
        &self.instrumentation_key
    }

    /// The ingestion endpoint, as given (a trailing `/` kept).
    pub fn ingestion_endpoint(&self) -> &str {
        &self.ingestion_endpoint
    }

    /// The Live Metrics endpoint.
    pub fn live_endpoint(&self) -> &str {
        &self.live_endpoint
    }

    /// `AADAudience`, if given.
    pub fn aad_audience(&self) -> Option<&str> {
        self.aad_audience.as_deref()
    }

    /// `ApplicationId`, if given.
    pub fn application_id(&self) -> Option<&str> {
        self.application_id.as_deref()
    }

    /// How telemetry is authorised.
    pub fn authorization(&self) -> Authorization {
        self.authorization
    }

    /// `{IngestionEndpoint}/v2.1/track`, with exactly one `/` before `v2.1`.
    pub fn track_url(&self) -> String {
        format!(
            "{}/v2.1/track",
            self.ingestion_endpoint.trim_end_matches('/')
        )
    }
}

// Debug carries the message, so `main() -> Result<(), Box<dyn Error>>` prints the
// fix-it text, not only the variant's name.
impl fmt::Debug for ConnectionStringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionStringError({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "00000000-0000-0000-0000-000000000000";

    #[test]
    fn defaults_and_suffix_location() {
        let cs = ConnectionString::parse(&format!("InstrumentationKey={KEY}")).unwrap();
        assert_eq!(cs.ingestion_endpoint(), DEFAULT_INGESTION_ENDPOINT);
        assert_eq!(cs.live_endpoint(), DEFAULT_LIVE_ENDPOINT);
        let cs = ConnectionString::parse(&format!(
            "instrumentationkey={KEY};ENDPOINTSUFFIX=applicationinsights.azure.cn;Location=chinaeast2"
        ))
        .unwrap();
        assert_eq!(
            cs.ingestion_endpoint(),
            "https://chinaeast2.dc.applicationinsights.azure.cn"
        );
        assert_eq!(
            cs.live_endpoint(),
            "https://chinaeast2.live.applicationinsights.azure.cn"
        );
        // Location without EndpointSuffix is ignored.
        let cs = ConnectionString::parse(&format!("InstrumentationKey={KEY};Location=x")).unwrap();
        assert_eq!(cs.ingestion_endpoint(), DEFAULT_INGESTION_ENDPOINT);
    }

    #[test]
    fn explicit_endpoints_win_and_keep_scheme_and_slash() {
        let cs = ConnectionString::parse(&format!(
            "InstrumentationKey={KEY};IngestionEndpoint=http://127.0.0.1:8080/;EndpointSuffix=x.com"
        ))
        .unwrap();
        assert_eq!(cs.ingestion_endpoint(), "http://127.0.0.1:8080/");
        assert_eq!(cs.track_url(), "http://127.0.0.1:8080/v2.1/track");
        assert_eq!(cs.live_endpoint(), "https://live.x.com");
    }

    #[test]
    fn lenient_where_microsoft_is_needlessly_strict() {
        let upper = KEY.replace('0', "A");
        let cs = ConnectionString::parse(&format!(
            "  InstrumentationKey = {upper} ; IngestionEndpoint=https://h/?a=b;ApplicationId=x=y;"
        ))
        .unwrap();
        assert_eq!(cs.instrumentation_key(), upper.to_ascii_lowercase());
        assert_eq!(cs.ingestion_endpoint(), "https://h/?a=b");
        assert_eq!(cs.application_id(), Some("x=y"));
    }

    #[test]
    fn strict_where_it_matters() {
        use ConnectionStringError::*;
        assert_eq!(ConnectionString::parse(""), Err(Empty));
        assert_eq!(ConnectionString::parse(" ; ;"), Err(Empty));
        assert_eq!(
            ConnectionString::parse("IngestionEndpoint=https://x"),
            Err(MissingInstrumentationKey)
        );
        assert_eq!(
            ConnectionString::parse("InstrumentationKey=not-a-guid"),
            Err(InvalidInstrumentationKey)
        );
        assert!(matches!(
            ConnectionString::parse(&format!("InstrumentationKey={KEY};garbage")),
            Err(MalformedPair { .. })
        ));
        assert!(matches!(
            ConnectionString::parse(&format!(
                "InstrumentationKey={KEY};IngestionEndpoint=ftp://x"
            )),
            Err(InvalidEndpoint {
                key: "IngestionEndpoint",
                ..
            })
        ));
        assert!(matches!(
            ConnectionString::parse(&format!("InstrumentationKey={KEY};Authorization=basic")),
            Err(UnsupportedAuthorization { .. })
        ));
        let aad = ConnectionString::parse(&format!("InstrumentationKey={KEY};Authorization=aad"))
            .unwrap();
        assert_eq!(aad.authorization(), Authorization::EntraId);
    }

    #[test]
    fn key_never_in_debug_or_errors() {
        let key = "0123abcd-0000-0000-0000-000000000000";
        let cs = ConnectionString::parse(&format!("InstrumentationKey={key}")).unwrap();
        assert!(!format!("{cs:?}").contains("0123abcd"));
        let err = ConnectionString::parse("InstrumentationKey=0123abcd-secret").unwrap_err();
        assert!(!err.to_string().contains("0123abcd"));
    }

    proptest::proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC*") {
            let _ = ConnectionString::parse(&s);
        }

        #[test]
        fn parser_never_panics_on_near_valid(k in "\\PC{0,20}", v in "\\PC{0,40}") {
            let _ = ConnectionString::parse(&format!("InstrumentationKey={KEY};{k}={v}"));
            let _ = ConnectionString::parse(&format!("{k}={v};InstrumentationKey={KEY}"));
        }
    }
}

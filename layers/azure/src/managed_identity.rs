//! Managed identity as a [`TokenProvider`], found the way the Azure SDKs find it, so
//! `APPLICATIONINSIGHTS_AUTHENTICATION_STRING=Authorization=AAD[;ClientId=...]` works
//! without handing a credential in code:
//!
//! | environment | endpoint | protocol |
//! |---|---|---|
//! | `IDENTITY_ENDPOINT` + `IDENTITY_HEADER` | App Service, Functions, Container Apps, Arc | `GET ?api-version=2019-08-01&resource=…&client_id=…`, header `X-IDENTITY-HEADER` |
//! | `MSI_ENDPOINT` (+ `MSI_SECRET`) | older App Service, Cloud Shell | `GET ?api-version=2017-09-01&resource=…&clientid=…`, header `secret` (without a secret: `Metadata: true`) |
//! | neither | the instance metadata service (`http://169.254.169.254`) | `GET ?api-version=2018-02-01&resource=…&client_id=…`, header `Metadata: true` |
//!
//! Tokens are fetched on the exporters' worker threads (the exporter caches them until
//! near expiry), with a 10 s timeout. The token itself is never logged or shown by `Debug`.

use crate::auth::{AccessToken, TokenError, TokenProvider};
use crate::env::Env;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing_insights_export::transport::{http_transport_or_reason, Method, Request};
use tracing_insights_export::{Body, HttpOptions, Transport};

/// Escaped in query values: all but the unreserved characters.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How long a token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// The instance metadata service's token endpoint (Azure VMs, VM scale sets, AKS).
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254/metadata/identity/oauth2/token";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    /// `IDENTITY_ENDPOINT` with `IDENTITY_HEADER`.
    AppService { endpoint: String, header: String },
    /// `MSI_ENDPOINT`, with `MSI_SECRET` when there is one.
    Msi {
        endpoint: String,
        secret: Option<String>,
    },
    /// The instance metadata service.
    Imds { endpoint: String },
}

/// A managed identity (system-assigned, or user-assigned by client id) as a
/// [`TokenProvider`].
pub struct ManagedIdentity {
    client_id: Option<String>,
    source: Source,
    /// The exporters' HTTP client (one request at a time).
    http: Mutex<Box<dyn Transport>>,
}

impl std::fmt::Debug for ManagedIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The identity header and MSI secret are secrets: only the kind and endpoint shown.
        let (kind, endpoint) = match &self.source {
            Source::AppService { endpoint, .. } => ("IDENTITY_ENDPOINT", endpoint),
            Source::Msi { endpoint, .. } => ("MSI_ENDPOINT", endpoint),
            Source::Imds { endpoint } => ("IMDS", endpoint),
        };
        f.debug_struct("ManagedIdentity")
            .field("client_id", &self.client_id)
            .field("source", &kind)
            .field("endpoint", endpoint)
            .finish()
    }
}

impl ManagedIdentity {
    /// The managed identity the process environment points to (see the module docs);
    /// `client_id` picks a user-assigned identity.
    pub fn from_env(client_id: Option<String>) -> Self {
        Self::from_env_in(&Env::process(), client_id)
    }

    /// The same, reading the variables from `env`.
    pub fn from_env_in(env: &Env, client_id: Option<String>) -> Self {
        let source = match (
            env.var("IDENTITY_ENDPOINT"),
            env.var("IDENTITY_HEADER"),
            env.var("MSI_ENDPOINT"),
        ) {
            (Some(endpoint), Some(header), _) => Source::AppService { endpoint, header },
            (_, _, Some(endpoint)) => Source::Msi {
                endpoint,
                secret: env.var("MSI_SECRET"),
            },
            _ => Source::Imds {
                endpoint: IMDS_ENDPOINT.to_owned(),
            },
        };
        Self {
            client_id,
            source,
            http: Mutex::new(http_transport_or_reason(&HttpOptions::default())),
        }
    }

    /// Which endpoint a token comes from (`IDENTITY_ENDPOINT`, `MSI_ENDPOINT` or `IMDS`).
    pub fn source(&self) -> &'static str {
        match self.source {
            Source::AppService { .. } => "IDENTITY_ENDPOINT",
            Source::Msi { .. } => "MSI_ENDPOINT",
            Source::Imds { .. } => "IMDS",
        }
    }
}

/// The resource a `…/.default` scope names (`https://monitor.azure.com//.default` →
/// `https://monitor.azure.com/`), as the SDKs turn scopes into managed-identity resources.
fn resource(scope: &str) -> &str {
    scope.strip_suffix("/.default").unwrap_or(scope)
}

/// `expires_on` (seconds since the epoch, as a number or a string), else `expires_in`
/// seconds from now, else one hour.
fn expiry(body: &serde_json::Value) -> SystemTime {
    let secs = |v: &serde_json::Value| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
    };
    if let Some(s) = secs(&body["expires_on"]) {
        return UNIX_EPOCH + Duration::from_secs(s);
    }
    let after = secs(&body["expires_in"]).unwrap_or(3600);
    SystemTime::now() + Duration::from_secs(after)
}

impl TokenProvider for ManagedIdentity {
    fn get_token(&self, scope: &str) -> Result<AccessToken, TokenError> {
        let resource = resource(scope);
        let (endpoint, version, id_param) = match &self.source {
            Source::AppService { endpoint, .. } => (endpoint, "2019-08-01", "client_id"),
            Source::Msi { endpoint, .. } => (endpoint, "2017-09-01", "clientid"),
            Source::Imds { endpoint } => (endpoint, "2018-02-01", "client_id"),
        };
        let mut url = format!(
            "{endpoint}{}api-version={version}&resource={}",
            if endpoint.contains('?') { '&' } else { '?' },
            utf8_percent_encode(resource, QUERY_VALUE)
        );
        if let Some(id) = &self.client_id {
            url.push_str(&format!(
                "&{id_param}={}",
                utf8_percent_encode(id, QUERY_VALUE)
            ));
        }
        let header = match &self.source {
            Source::AppService { header, .. } => ("X-IDENTITY-HEADER", header.as_str()),
            Source::Msi {
                secret: Some(s), ..
            } => ("secret", s.as_str()),
            Source::Msi { secret: None, .. } | Source::Imds { .. } => ("Metadata", "true"),
        };
        let headers = [(header.0.to_owned(), header.1.to_owned())];
        let what = self.source();
        let no_body = Body {
            bytes: Vec::new(),
            content_type: "",
            content_encoding: None,
            leading: 0,
        };
        let request = Request {
            method: Method::Get,
            url: &url,
            headers: &headers,
            authorization: None,
            body: &no_body,
            timeout: Some(TOKEN_TIMEOUT),
        };
        let resp = {
            let mut http = self.http.lock().unwrap_or_else(|p| p.into_inner());
            http.send(&request)
        }
        .map_err(|e| TokenError(format!("managed identity ({what} {endpoint}): {e}")))?;
        let status = resp.status;
        let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(64 * 1024)]);
        if !(200..300).contains(&status) {
            // The error body names the problem (no identity, wrong client id); no token in it.
            let reason: String = text.chars().take(300).collect();
            return Err(TokenError(format!(
                "managed identity ({what} {endpoint}): HTTP {status}: {reason}"
            )));
        }
        let body: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| TokenError(format!("managed identity ({what}): bad answer: {e}")))?;
        let token = body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| TokenError(format!("managed identity ({what}): no access_token")))?;
        Ok(AccessToken::new(token, expiry(&body)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Env::from_pairs(pairs)
    }

    #[test]
    fn the_environment_picks_the_endpoint_as_the_sdks_do() {
        let e = env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/token"),
            ("IDENTITY_HEADER", "h"),
            ("MSI_ENDPOINT", "http://127.0.0.1:2/msi"),
        ]);
        assert_eq!(
            ManagedIdentity::from_env_in(&e, None).source(),
            "IDENTITY_ENDPOINT"
        );
        let e = env(&[("MSI_ENDPOINT", "http://127.0.0.1:2/msi")]);
        assert_eq!(
            ManagedIdentity::from_env_in(&e, None).source(),
            "MSI_ENDPOINT"
        );
        let mi = ManagedIdentity::from_env_in(&env(&[]), Some("cid".into()));
        assert_eq!(mi.source(), "IMDS");
        assert!(format!("{mi:?}").contains("169.254.169.254"));
        let secret = ManagedIdentity::from_env_in(
            &env(&[
                ("IDENTITY_ENDPOINT", "http://x"),
                ("IDENTITY_HEADER", "topsecret"),
            ]),
            None,
        );
        assert!(!format!("{secret:?}").contains("topsecret"));
    }

    #[test]
    fn scopes_become_resources_and_expiries_parse() {
        assert_eq!(
            resource("https://monitor.azure.com//.default"),
            "https://monitor.azure.com/"
        );
        assert_eq!(
            expiry(&serde_json::json!({"expires_on": "2000000000"})),
            UNIX_EPOCH + Duration::from_secs(2_000_000_000)
        );
        assert_eq!(
            expiry(&serde_json::json!({"expires_on": 2_000_000_001_u64})),
            UNIX_EPOCH + Duration::from_secs(2_000_000_001)
        );
        assert!(expiry(&serde_json::json!({"expires_in": "60"})) > SystemTime::now());
    }
}

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
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
    agent: ureq::Agent,
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
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Self {
            client_id,
            source,
            agent,
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
        let mut req = self
            .agent
            .get(endpoint.as_str())
            .query("api-version", version)
            .query("resource", resource);
        if let Some(id) = &self.client_id {
            req = req.query(id_param, id);
        }
        req = match &self.source {
            Source::AppService { header, .. } => req.header("X-IDENTITY-HEADER", header),
            Source::Msi {
                secret: Some(s), ..
            } => req.header("secret", s),
            Source::Msi { secret: None, .. } | Source::Imds { .. } => {
                req.header("Metadata", "true")
            }
        };
        let what = self.source();
        let mut resp = req
            .call()
            .map_err(|e| TokenError(format!("managed identity ({what} {endpoint}): {e}")))?;
        let status = resp.status();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .map_err(|e| TokenError(format!("managed identity ({what}): {e}")))?;
        if !status.is_success() {
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

//! The rustls client configuration reqwest is handed: the `ring` provider given to this
//! configuration only (no process-wide provider is installed, so an application that
//! installs its own later does not fail), the platform's roots through
//! `rustls-platform-verifier` (what reqwest's own rustls path uses) or, with a custom CA,
//! that CA alone; ALPN offers HTTP/2 and HTTP/1.1.

use super::pem;
use super::HttpOptions;
use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, RootCertStore};
use std::sync::Arc;

pub(super) fn client_config(o: &HttpOptions) -> Result<ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS configuration: {e}"))?;
    let builder = match &o.ca_pem {
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in pem::certificates(ca)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("a CA certificate is not usable: {e}"))?;
            }
            let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("TLS verification settings: {e}"))?;
            builder.with_webpki_verifier(verifier)
        }
        None => {
            let verifier = rustls_platform_verifier::Verifier::new(provider)
                .map_err(|e| format!("the platform's TLS roots: {e}"))?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
        }
    };
    let mut config = match &o.client_identity_pem {
        Some((cert, key)) => builder
            .with_client_auth_cert(pem::certificates(cert)?, pem::private_key(key)?)
            .map_err(|e| format!("the client certificate and key do not match: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

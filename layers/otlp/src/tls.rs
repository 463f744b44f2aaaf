//! PEM files named by `OTEL_EXPORTER_OTLP_*CERTIFICATE` / `*CLIENT_KEY`, read and checked
//! when the exporter is built, kept as PEM bytes so every transport (HTTP through either
//! client and TLS backend, gRPC) reads them the same way.

use crate::config::OtlpError;
use tracing_insights_export::transport::{pem, HttpOptions};

fn read(name: &str, path: &str) -> Result<Vec<u8>, OtlpError> {
    std::fs::read(path).map_err(|e| invalid(name, path, format!("cannot read the PEM file: {e}")))
}

fn invalid(name: &str, path: &str, reason: String) -> OtlpError {
    OtlpError::InvalidValue {
        name: name.to_owned(),
        value: path.to_owned(),
        reason,
    }
}

/// A PEM file holding at least one certificate.
pub(crate) fn read_certs(name: &str, path: &str) -> Result<Vec<u8>, OtlpError> {
    let text = read(name, path)?;
    pem::certificates(&text).map_err(|reason| invalid(name, path, reason))?;
    Ok(text)
}

/// A PEM file holding a private key. The key itself never appears in an error.
pub(crate) fn read_key(name: &str, path: &str) -> Result<Vec<u8>, OtlpError> {
    let text = read(name, path)?;
    pem::private_key(&text).map_err(|reason| invalid(name, path, reason))?;
    Ok(text)
}

/// The PEM material the `*CERTIFICATE` / `*CLIENT_KEY` variables name (`Debug` shows which
/// are set, never the key).
#[derive(Default, Clone)]
pub(crate) struct TlsFiles {
    /// Roots that replace the built-in ones.
    ca: Option<Vec<u8>>,
    /// The mTLS certificate chain and key.
    client: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsFiles")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

// Not every transport reads every accessor (gRPC is behind a feature).
#[allow(dead_code)]
impl TlsFiles {
    /// With these roots (PEM, checked by [`read_certs`]).
    pub(crate) fn with_ca(mut self, pem: Vec<u8>) -> Self {
        self.ca = Some(pem);
        self
    }

    /// With this client certificate chain and key (PEM, checked by [`read_certs`] and
    /// [`read_key`]).
    pub(crate) fn with_client(mut self, cert_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        self.client = Some((cert_pem, key_pem));
        self
    }

    /// The CA certificates (PEM) that replace the built-in roots.
    pub(crate) fn ca_pem(&self) -> Option<&[u8]> {
        self.ca.as_deref()
    }

    /// The client certificate chain (PEM), for mutual TLS.
    pub(crate) fn client_cert_pem(&self) -> Option<&[u8]> {
        self.client.as_ref().map(|(c, _)| c.as_slice())
    }

    /// The client's private key (PEM), for mutual TLS. A secret: never log it.
    pub(crate) fn client_key_pem(&self) -> Option<&[u8]> {
        self.client.as_ref().map(|(_, k)| k.as_slice())
    }

    /// The HTTP transport's options: these files and the user agent.
    pub(crate) fn http_options(&self, user_agent: &str) -> HttpOptions {
        let mut o = HttpOptions::default().with_user_agent(user_agent);
        if let Some(ca) = &self.ca {
            o = o.with_ca_pem(ca.clone());
        }
        if let Some((cert, key)) = &self.client {
            o = o.with_client_identity_pem(cert.clone(), key.clone());
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
    }

    #[test]
    fn the_files_reach_every_transport_as_pem_and_debug_hides_the_key() {
        let cert = read_certs("C", &fixture("test-cert.pem")).unwrap();
        let key = read_key("K", &fixture("test-key.pem")).unwrap();
        let files = TlsFiles::default()
            .with_ca(cert.clone())
            .with_client(cert.clone(), key.clone());
        assert_eq!(files.ca_pem(), Some(&cert[..]));
        assert_eq!(files.client_cert_pem(), Some(&cert[..]));
        assert_eq!(files.client_key_pem(), Some(&key[..]));
        let options = files.http_options("ua/1");
        assert_eq!(options.ca_pem.as_deref(), Some(&cert[..]));
        assert_eq!(options.client_identity_pem, Some((cert, key)));
        assert_eq!(options.user_agent.as_deref(), Some("ua/1"));
        for shown in [format!("{files:?}"), format!("{options:?}")] {
            assert!(!shown.contains("BEGIN"), "{shown}");
        }
        assert_eq!(TlsFiles::default().ca_pem(), None);
        assert_eq!(TlsFiles::default().client_key_pem(), None);
    }
}

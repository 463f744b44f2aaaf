//! PEM files named by `OTEL_EXPORTER_OTLP_*CERTIFICATE` / `*CLIENT_KEY`.

use crate::config::OtlpError;
use ureq::tls::{parse_pem, Certificate, PemItem, PrivateKey};

fn read(name: &str, path: &str) -> Result<Vec<u8>, OtlpError> {
    std::fs::read(path).map_err(|e| OtlpError::InvalidValue {
        name: name.to_owned(),
        value: path.to_owned(),
        reason: format!("cannot read the PEM file: {e}"),
    })
}

/// Every certificate in a PEM file (at least one).
pub(crate) fn read_certs(name: &str, path: &str) -> Result<Vec<Certificate<'static>>, OtlpError> {
    let pem = read(name, path)?;
    let certs: Vec<_> = parse_pem(&pem)
        .filter_map(|item| match item {
            Ok(PemItem::Certificate(c)) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(OtlpError::InvalidValue {
            name: name.to_owned(),
            value: path.to_owned(),
            reason: "the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    Ok(certs)
}

/// The first private key in a PEM file, and the file. The key itself never appears in an
/// error.
pub(crate) fn read_key(
    name: &str,
    path: &str,
) -> Result<(PrivateKey<'static>, Vec<u8>), OtlpError> {
    let pem = read(name, path)?;
    let key = parse_pem(&pem).find_map(|item| match item {
        Ok(PemItem::PrivateKey(k)) => Some(k),
        _ => None,
    });
    key.map(|k| (k, pem.clone()))
        .ok_or_else(|| OtlpError::InvalidValue {
            name: name.to_owned(),
            value: path.to_owned(),
            reason: "the file holds no PEM private key".into(),
        })
}

/// The PEM material the `*CERTIFICATE` / `*CLIENT_KEY` variables name.
#[derive(Default)]
pub(crate) struct TlsFiles {
    /// Roots that replace the built-in ones.
    pub(crate) roots: Option<Vec<Certificate<'static>>>,
    /// The mTLS chain and key.
    pub(crate) client: Option<(Vec<Certificate<'static>>, PrivateKey<'static>)>,
    /// The key file's PEM text (for the gRPC transport's own TLS stack).
    #[cfg_attr(not(feature = "grpc"), allow(dead_code))]
    pub(crate) client_key_pem: Vec<u8>,
}

impl TlsFiles {
    /// The ureq TLS configuration, when anything is set.
    pub(crate) fn ureq_config(&self) -> Option<ureq::tls::TlsConfig> {
        if self.roots.is_none() && self.client.is_none() {
            return None;
        }
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(roots) = &self.roots {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(roots));
        }
        if let Some((chain, key)) = &self.client {
            tls = tls.client_cert(Some(ureq::tls::ClientCert::new_with_certs(
                chain,
                key.to_owned(),
            )));
        }
        Some(tls.build())
    }
}

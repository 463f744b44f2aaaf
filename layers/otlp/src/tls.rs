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

/// The first private key in a PEM file. The key itself never appears in an error.
pub(crate) fn read_key(name: &str, path: &str) -> Result<PrivateKey<'static>, OtlpError> {
    let pem = read(name, path)?;
    let key = parse_pem(&pem).find_map(|item| match item {
        Ok(PemItem::PrivateKey(k)) => Some(k),
        _ => None,
    });
    key.ok_or_else(|| OtlpError::InvalidValue {
        name: name.to_owned(),
        value: path.to_owned(),
        reason: "the file holds no PEM private key".into(),
    })
}

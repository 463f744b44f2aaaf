//! PEM files as both HTTP clients and both TLS backends read them: certificates and private
//! keys in DER, parsed with `rustls-pki-types`. Errors never quote the file's contents.

use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Every certificate in a PEM text (at least one, else why not in words).
pub fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the PEM text does not parse: {e}"))?;
    if certs.is_empty() {
        return Err("the file holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(certs)
}

/// The first private key in a PEM text (PKCS#8, PKCS#1 or SEC1), else why not in words.
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => "the file holds no PEM private key".into(),
        // The error names a section or an I/O failure, never the key's bytes.
        other => format!("the PEM private key does not parse: {other}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_certificate_and_no_key_are_errors_in_words() {
        let junk = b"not a pem file";
        assert!(certificates(junk)
            .unwrap_err()
            .contains("no PEM certificate"));
        assert!(private_key(junk)
            .unwrap_err()
            .contains("no PEM private key"));
    }
}

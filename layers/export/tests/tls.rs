//! HTTPS to a loopback server with a certificate of its own (for 127.0.0.1), through the
//! HTTP client the features pick: custom roots, mutual TLS, and no process-wide rustls
//! crypto provider installed by us (an application that installs one later must not fail).

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tracing_insights_export::transport::{Method, Request};
use tracing_insights_export::{http_transport, Body, HttpOptions};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(path).unwrap()
}

fn cert_pem() -> Vec<u8> {
    fixture("loopback-cert.pem")
}

fn key_pem() -> Vec<u8> {
    fixture("loopback-key.pem")
}

/// An HTTPS/1.1 server on 127.0.0.1 that answers every request 200 and hands over the
/// request bodies; with `client_auth`, only clients presenting the fixture certificate.
fn start(client_auth: bool) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&cert_pem())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(&key_pem()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(certs[0].clone()).unwrap();
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };
    let config = Arc::new(builder.with_single_cert(certs, key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = BufReader::new(rustls::StreamOwned::new(conn, stream));
            let mut len = 0;
            let mut line = String::new();
            // A failed handshake shows up as a read error: next connection.
            while tls.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                line.clear();
            }
            if line != "\r\n" {
                continue;
            }
            let mut body = vec![0; len];
            if tls.read_exact(&mut body).is_err() {
                continue;
            }
            let _ = tx.send(body);
            let tls = tls.get_mut();
            let _ =
                tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
    });
    (port, rx)
}

fn post(options: &HttpOptions, port: u16) -> Result<u16, String> {
    let body = Body {
        bytes: b"hello over tls".to_vec(),
        content_type: "application/x-protobuf",
        content_encoding: None,
        leading: 0,
    };
    let mut t = http_transport(options)?;
    t.send(&Request {
        method: Method::Post,
        url: &format!("https://127.0.0.1:{port}/v1/traces"),
        headers: &[],
        authorization: Some("Bearer not-a-real-token"),
        body: &body,
        timeout: Some(Duration::from_secs(5)),
    })
    .map(|r| r.status)
}

#[test]
fn a_custom_ca_is_trusted_and_the_body_arrives() {
    let (port, bodies) = start(false);
    let options = HttpOptions::default().with_ca_pem(cert_pem());
    assert_eq!(post(&options, port), Ok(200));
    let got = bodies.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(got, b"hello over tls");
}

#[test]
fn without_the_ca_the_server_certificate_is_refused_in_words() {
    let (port, _bodies) = start(false);
    let err = post(&HttpOptions::default(), port).unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(!err.contains("not-a-real-token"), "{err}");
}

#[test]
fn mutual_tls_presents_the_client_certificate() {
    let (port, bodies) = start(true);
    let with_identity = HttpOptions::default()
        .with_ca_pem(cert_pem())
        .with_client_identity_pem(cert_pem(), key_pem());
    assert_eq!(post(&with_identity, port), Ok(200));
    assert_eq!(
        bodies.recv_timeout(Duration::from_secs(5)).unwrap(),
        b"hello over tls"
    );
    let without = HttpOptions::default().with_ca_pem(cert_pem());
    assert!(post(&without, port).is_err());
}

#[test]
fn a_bad_key_is_an_error_that_does_not_quote_the_file() {
    let options = HttpOptions::default().with_client_identity_pem(cert_pem(), cert_pem());
    let Err(err) = http_transport(&options) else {
        panic!("a certificate as the key was accepted")
    };
    assert!(err.contains("no PEM private key"), "{err}");
    assert!(!err.contains("BEGIN"), "{err}");
}

#[cfg(all(
    any(feature = "rustls", feature = "rustls-ring"),
    not(feature = "native-tls")
))]
#[test]
fn no_process_wide_crypto_provider_is_installed() {
    let (port, _bodies) = start(false);
    let options = HttpOptions::default().with_ca_pem(cert_pem());
    assert_eq!(post(&options, port), Ok(200));
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
    // What an application that picks its own provider does after starting the exporters.
    rustls::crypto::ring::default_provider()
        .install_default()
        .expect("nobody installed a provider before the application");
}

/// With the default `rustls` feature, reqwest's own provider comes with it: a plain client the
/// application builds itself (features unified with ours) needs no process-wide provider.
#[cfg(all(
    feature = "reqwest",
    feature = "rustls",
    not(feature = "rustls-ring"),
    not(feature = "native-tls")
))]
#[test]
fn an_applications_own_reqwest_client_builds_without_a_provider() {
    let built = std::panic::catch_unwind(|| reqwest::Client::builder().build().map(|_| ()));
    assert!(
        matches!(built, Ok(Ok(()))),
        "reqwest::Client::build panicked or failed"
    );
    assert!(rustls::crypto::CryptoProvider::get_default().is_none());
}

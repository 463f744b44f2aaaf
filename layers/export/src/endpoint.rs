//! Checks on endpoint URLs, made when an exporter is built (so a setting that cannot work is
//! an error naming it, not a silent failure later), and the loopback test the spool uses.

use std::net::{IpAddr, Ipv6Addr};

/// Checks that `url` is an absolute `http://` or `https://` URL with a host (an IPv6
/// address in closed brackets, valid) and, if given, a port from 1 to 65535. The error says
/// what is wrong in words; it never repeats the URL (which may hold a secret).
pub fn check_endpoint(url: &str) -> Result<(), String> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains whitespace or control characters".into());
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("it has no scheme; write http://host:port or https://host".into());
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(format!(
            "the scheme is `{scheme}`; it must be http:// or https://"
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return Err("the IPv6 address has no closing `]`".into());
        };
        if addr.parse::<Ipv6Addr>().is_err() {
            return Err(format!("`[{addr}]` is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or("text follows the IPv6 address's `]`")?,
            ),
        };
        (addr, port)
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err("it has no host".into());
    }
    if host.contains(['[', ']']) {
        return Err("the host has a stray `[` or `]`".into());
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(format!("the port `{port}` is not a number from 1 to 65535")),
        }
    }
    Ok(())
}

/// Whether `host` (as in a URL, brackets optional) is this machine: `localhost`, an
/// address in 127.0.0.0/8, `::1`, or an IPv4-mapped loopback (`::ffff:127.0.0.1`).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.is_loopback(),
        Ok(IpAddr::V6(a)) => {
            a.is_loopback() || a.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_that_cannot_work_are_refused_in_words() {
        for (url, says) in [
            ("http://[::1", "closing `]`"),
            ("http://[::1]:99999/", "1 to 65535"),
            ("http://127.0.0.1:99999", "1 to 65535"),
            ("http://127.0.0.1:0", "1 to 65535"),
            ("http://host:port/", "1 to 65535"),
            ("http://[bad]/", "not an IPv6 address"),
            ("http://[::1]x/", "follows"),
            ("ftp://host/", "scheme"),
            ("host:4318", "scheme"),
            ("http:///v1", "no host"),
            ("http://a b/", "whitespace"),
        ] {
            let e = check_endpoint(url).expect_err(url);
            assert!(e.contains(says), "{url}: {e}");
        }
        for url in [
            "http://127.0.0.1:4318",
            "https://[::1]:443/v1/traces",
            "https://key@o1.ingest.sentry.io/1",
            "http://[::ffff:127.0.0.1]:80",
            "https://dc.services.visualstudio.com/v2.1/track",
        ] {
            assert_eq!(check_endpoint(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn ipv4_mapped_loopback_is_loopback() {
        for h in [
            "localhost",
            "127.0.0.1",
            "127.1.2.3",
            "::1",
            "[::1]",
            "[::ffff:127.0.0.1]",
            "::ffff:7f00:1",
        ] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "10.0.0.1",
            "[::ffff:10.0.0.1]",
            "::2",
            "128.0.0.1",
        ] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }
}

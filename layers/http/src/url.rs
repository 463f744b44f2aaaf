//! URL pieces for span fields: query and credential redaction, host and port.

/// What replaces a redacted query value or credential (the OpenTelemetry convention).
pub const REDACTED: &str = "REDACTED";

/// `url.query` with every value replaced by `REDACTED` (`a=1&b` becomes `a=REDACTED&b`):
/// the keys say what the request was, the values may be tokens, e-mail addresses or
/// signatures. A parameter without `=` is a key and kept.
pub fn redact_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len());
    for (i, pair) in query.split('&').enumerate() {
        if i > 0 {
            out.push('&');
        }
        match pair.split_once('=') {
            Some((key, _)) => {
                out.push_str(key);
                out.push('=');
                out.push_str(REDACTED);
            }
            None => out.push_str(pair),
        }
    }
    out
}

/// `url.full` for a client span: credentials in the authority become
/// `REDACTED:REDACTED@`, query values are redacted when `redact_query` is set, and the
/// fragment (never sent) is left out.
pub fn redact_url(url: &str, redact_query_values: bool) -> String {
    let url = url.split('#').next().unwrap_or(url);
    let (before_query, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len() + 16);
    match before_query.find("://") {
        Some(i) => {
            let after = &before_query[i + 3..];
            let end = after.find('/').unwrap_or(after.len());
            let authority = &after[..end];
            out.push_str(&before_query[..i + 3]);
            match authority.rfind('@') {
                Some(at) => {
                    out.push_str(REDACTED);
                    out.push(':');
                    out.push_str(REDACTED);
                    out.push_str(&authority[at..]);
                }
                None => out.push_str(authority),
            }
            out.push_str(&after[end..]);
        }
        None => out.push_str(before_query),
    }
    if let Some(q) = query {
        out.push('?');
        if redact_query_values {
            out.push_str(&redact_query(q));
        } else {
            out.push_str(q);
        }
    }
    out
}

/// Splits an authority or `Host` value into host and port: `example.com:8080`,
/// `[::1]:8080` (the address without brackets, as the conventions write it) or a bare
/// host. Credentials before `@` are dropped.
pub(crate) fn split_host_port(authority: &str) -> Option<(&str, Option<u16>)> {
    let authority = authority.rsplit('@').next().unwrap_or(authority).trim();
    if authority.is_empty() {
        return None;
    }
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, port.parse().ok())),
        _ => Some((authority, None)),
    }
}

/// The port a scheme implies when the URL names none.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// The HTTP method as the conventions record it: one of the nine standard methods, else
/// `_OTHER` (a method is client input and unbounded).
pub(crate) fn method_name(method: &http::Method) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
    ];
    match KNOWN.iter().find(|m| **m == method.as_str()) {
        Some(m) => m,
        None => "_OTHER",
    }
}

/// `network.protocol.version` for an HTTP version.
pub(crate) fn protocol_version(version: http::Version) -> Option<&'static str> {
    Some(match version {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted_keys_kept() {
        assert_eq!(
            redact_query("q=rust&token=abc&flag&x="),
            "q=REDACTED&token=REDACTED&flag&x=REDACTED"
        );
    }

    #[test]
    fn credentials_and_fragment_never_reach_url_full() {
        assert_eq!(
            redact_url("https://user:pw@example.com:8443/a/b?k=v#frag", true),
            "https://REDACTED:REDACTED@example.com:8443/a/b?k=REDACTED"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:9/x?k=v", false),
            "http://127.0.0.1:9/x?k=v"
        );
        assert_eq!(redact_url("http://h", true), "http://h");
    }

    #[test]
    fn host_and_port() {
        assert_eq!(
            split_host_port("example.com:8080"),
            Some(("example.com", Some(8080)))
        );
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", Some(80))));
        assert_eq!(split_host_port("example.com"), Some(("example.com", None)));
        assert_eq!(split_host_port("u:p@h:1"), Some(("h", Some(1))));
        assert_eq!(split_host_port(""), None);
    }
}

//! Checks on the strings presets are built from: URLs, header names and values.

use crate::error::PresetError;

/// An `http://` or `https://` URL with a host and no whitespace or control characters.
/// Returns it trimmed of surrounding whitespace.
pub(crate) fn check_url<'a>(url: &'a str, field: &'static str) -> Result<&'a str, PresetError> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| PresetError::invalid(field, "must start with http:// or https://"))?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(PresetError::invalid(
            field,
            "must not contain spaces or control characters",
        ));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    let (host_only, port) = match host.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']').ok_or_else(|| {
                PresetError::invalid(field, "has an IPv6 host with no closing `]`")
            })?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(PresetError::invalid(
                    field,
                    "has a bracketed host that is not an IPv6 address",
                ));
            }
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| {
                    PresetError::invalid(field, "has text after the IPv6 host's `]`")
                })?),
            };
            (addr, port)
        }
        None => match host.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        },
    };
    if host_only.is_empty() {
        return Err(PresetError::invalid(field, "has no host"));
    }
    if host_only.contains(['[', ']']) {
        return Err(PresetError::invalid(
            field,
            "has a stray `[` or `]` in its host",
        ));
    }
    if let Some(port) = port {
        if !port.parse::<u16>().is_ok_and(|p| p > 0) {
            return Err(PresetError::invalid(
                field,
                "has a port that is not a number from 1 to 65535",
            ));
        }
    }
    Ok(url)
}

/// The byte length of `scheme://authority` at the start of a URL that passed [`check_url`].
pub(crate) fn origin_len(url: &str) -> usize {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    url[after_scheme..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| after_scheme + i)
}

/// A header name must be an HTTP token; a value may not hold control characters (CR and LF
/// would let a value inject headers) or non-ASCII characters.
pub(crate) fn check_header(
    name: &str,
    value: &str,
    field: &'static str,
) -> Result<(), PresetError> {
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    if name.is_empty() || !name.chars().all(token) {
        return Err(PresetError::invalid(
            field,
            format!("header name {name:?} is not a valid HTTP header name"),
        ));
    }
    if value.chars().any(|c| c.is_control() || !c.is_ascii()) {
        return Err(PresetError::invalid(
            field,
            format!("the value of header {name:?} holds control or non-ASCII characters"),
        ));
    }
    Ok(())
}

/// Parses `key1=value1,key2=value2` (W3C Baggage style, as `OTEL_EXPORTER_OTLP_HEADERS` and
/// `PHOENIX_CLIENT_HEADERS`): split on `,`, then on the first `=`, both sides trimmed and
/// percent-decoded; empty keys are dropped.
pub(crate) fn parse_header_list(
    list: &str,
    field: &'static str,
) -> Result<Vec<(String, String)>, PresetError> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s.trim())
            .decode_utf8()
            .map(|c| c.into_owned())
            .map_err(|_| {
                PresetError::invalid(field, "a value is not valid UTF-8 after percent-decoding")
            })
    };
    let mut out = Vec::new();
    for pair in list.split(',').filter(|p| !p.trim().is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| PresetError::invalid(field, "each entry must be key=value"))?;
        let (k, v) = (decode(k)?, decode(v)?);
        if k.is_empty() {
            continue;
        }
        check_header(&k, &v, field)?;
        out.push((k, v));
    }
    Ok(out)
}

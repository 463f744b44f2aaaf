//! Which 307/308 redirects are followed, and how URLs are shown in reports.

/// Host suffixes within which a redirect may change host, as in Microsoft's exporter: the old
/// and the new host must both end with the same suffix from this list (or be equal).
pub const ALLOWED_REDIRECT_SUFFIXES: [&str; 8] = [
    ".livediagnostics.monitor.azure.com",
    ".monitor.azure.com",
    ".services.visualstudio.com",
    ".applicationinsights.azure.com",
    ".monitor.azure.us",
    ".applicationinsights.azure.us",
    ".monitor.azure.cn",
    ".applicationinsights.azure.cn",
];

/// Consecutive redirects followed for one batch before it is given up as a loop. Microsoft
/// follows 30 (azure-core's `max_redirects`); 10 is plenty for a region move and stops a
/// loop three times sooner.
pub const MAX_REDIRECTS: u32 = 10;

/// The parts of an `http(s)://host[:port]/path?query` URL this crate needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `http` or `https` (lower case).
    pub scheme: String,
    /// The host, lower case, without brackets for IPv6.
    pub host: String,
    /// The authority as written (`host[:port]`, lower-cased host).
    pub authority: String,
}

/// Splits `url` into its origin and the rest (`/path?query`, possibly empty). `None` for
/// anything that is not an absolute `http`/`https` URL with a host.
pub fn split_url(url: &str) -> Option<(Origin, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // Userinfo is refused: a redirect must not smuggle credentials.
    if authority.is_empty() || authority.contains('@') || authority.contains(char::is_whitespace) {
        return None;
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split_once(']')?.0
    } else {
        authority.split(':').next()?
    };
    if host.is_empty() {
        return None;
    }
    Some((
        Origin {
            scheme,
            host: host.to_ascii_lowercase(),
            authority: authority.to_ascii_lowercase(),
        },
        path,
    ))
}

/// Why a redirect was not followed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectRefused {
    /// No `Location`, or not an absolute http(s) URL.
    BadLocation,
    /// The new host is neither the current host nor in the same allowed Azure domain.
    CrossOrigin,
}

/// Where a batch sent to `current` goes after a redirect to `location`: the new origin with
/// the current path (Microsoft keeps its own `/v2.1/track` path and takes only
/// `scheme://netloc` from `Location`). The host may change only within one of
/// [`ALLOWED_REDIRECT_SUFFIXES`]. Never panics.
pub fn follow(current: &str, location: Option<&str>) -> Result<String, RedirectRefused> {
    follow_within(current, location, &ALLOWED_REDIRECT_SUFFIXES)
}

/// As [`follow`], with the host suffixes within which the host may change given (empty:
/// only redirects to the same host are followed).
pub fn follow_within(
    current: &str,
    location: Option<&str>,
    suffixes: &[&str],
) -> Result<String, RedirectRefused> {
    let (to, _) = location
        .and_then(|l| split_url(l.trim()))
        .ok_or(RedirectRefused::BadLocation)?;
    let (from, path) = split_url(current).ok_or(RedirectRefused::BadLocation)?;
    let same_host = from.host == to.host;
    let same_domain = suffixes
        .iter()
        .any(|s| from.host.ends_with(s) && to.host.ends_with(s));
    if !same_host && !same_domain {
        return Err(RedirectRefused::CrossOrigin);
    }
    Ok(format!("{}://{}{}", to.scheme, to.authority, path))
}

/// A URL as it may be shown (errors, `Debug`): `user:password@` and the query string
/// (some services take keys there) are replaced by `***`.
pub fn mask_url(url: &str) -> String {
    let (url, had_query) = match url.split_once('?') {
        Some((u, _)) => (u, true),
        None => (url, false),
    };
    let mut out = match url.split_once("://") {
        Some((scheme, rest)) => {
            let auth_end = rest.find(['/', '#']).unwrap_or(rest.len());
            match rest[..auth_end].rfind('@') {
                Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    };
    if had_query {
        out.push_str("?***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let cur = "https://westeurope-5.in.applicationinsights.azure.com/v2.1/track";
        assert_eq!(
            follow(
                cur,
                Some("https://westeurope-1.in.applicationinsights.azure.com/x")
            ),
            Ok("https://westeurope-1.in.applicationinsights.azure.com/v2.1/track".into())
        );
        assert_eq!(
            follow(cur, Some("https://evil.example.com/")),
            Err(RedirectRefused::CrossOrigin)
        );
        assert_eq!(follow(cur, None), Err(RedirectRefused::BadLocation));
        assert_eq!(
            follow(cur, Some("/relative")),
            Err(RedirectRefused::BadLocation)
        );
        assert_eq!(
            follow(
                "http://127.0.0.1:1/v2.1/track",
                Some("http://127.0.0.1:2/v2.1/track")
            ),
            Ok("http://127.0.0.1:2/v2.1/track".into())
        );
        assert_eq!(
            follow(
                "http://127.0.0.1:1/v2.1/track",
                Some("http://localhost:2/v2.1/track")
            ),
            Err(RedirectRefused::CrossOrigin)
        );
        assert_eq!(
            follow(
                cur,
                Some("https://user:pw@x.in.applicationinsights.azure.com/")
            ),
            Err(RedirectRefused::BadLocation)
        );
    }
}

//! The chat completions URL, checked before anything is sent.

use std::error::Error;
use std::fmt;

/// An endpoint URL with an `http` or `https` scheme and a host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint(String);

/// Why `--endpoint` is not a URL `chat` can send to.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointError {
    /// No `scheme://` in front.
    NoScheme,
    /// A scheme other than http and https.
    Scheme(String),
    /// Nothing, or not a valid host, after `scheme://`.
    BadHost,
}

impl fmt::Display for EndpointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointError::NoScheme => f.write_str(
                "not a URL; write the whole chat completions URL, as in \
                 https://api.openai.com/v1/chat/completions",
            ),
            EndpointError::Scheme(scheme) => write!(
                f,
                "the scheme {scheme}:// is not supported; use http:// or https://"
            ),
            EndpointError::BadHost => {
                f.write_str("no valid host after the scheme; write it as https://HOST[:PORT]/PATH")
            }
        }
    }
}

impl Error for EndpointError {}

impl Endpoint {
    /// Checks `url`: `http://` or `https://` (any case), then a host that the HTTP client can
    /// parse.
    ///
    /// # Errors
    /// [`EndpointError`] naming what to change.
    pub fn parse(url: &str) -> Result<Endpoint, EndpointError> {
        let (scheme, rest) = url.split_once("://").ok_or(EndpointError::NoScheme)?;
        if !["http", "https"]
            .iter()
            .any(|known| scheme.eq_ignore_ascii_case(known))
        {
            return Err(EndpointError::Scheme(scheme.to_owned()));
        }
        let uri: ureq::http::Uri = url.parse().map_err(|_| EndpointError::BadHost)?;
        let host = uri.host().unwrap_or_default();
        if host.is_empty() || rest.starts_with(['/', '?', '#']) {
            return Err(EndpointError::BadHost);
        }
        Ok(Endpoint(url.to_owned()))
    }

    /// The URL, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it uses https.
    pub fn is_https(&self) -> bool {
        self.0[..6].eq_ignore_ascii_case("https:")
    }

    /// Whether it is on this machine (no API key needed).
    pub fn is_loopback(&self) -> bool {
        let host = self
            .0
            .split_once("://")
            .map_or(self.0.as_str(), |(_, rest)| rest)
            .split(['/', '?'])
            .next()
            .unwrap_or_default();
        let host = host.rsplit_once('@').map_or(host, |(_, host)| host);
        ["127.0.0.1", "localhost", "[::1]"]
            .iter()
            .any(|loopback| host == *loopback || host.starts_with(&format!("{loopback}:")))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_endpoints_need_no_key() {
        let loopback = |url: &str| Endpoint::parse(url).unwrap().is_loopback();
        assert!(loopback("http://127.0.0.1:8080/v1/chat/completions"));
        assert!(loopback("http://localhost/v1"));
        assert!(loopback("http://[::1]:9/x"));
        assert!(!loopback("https://api.openai.com/v1/chat/completions"));
        assert!(!loopback("https://localhost.evil.com/v1"));
    }

    #[test]
    fn only_http_and_https_urls_with_a_host_are_taken() {
        assert!(
            Endpoint::parse("HTTPS://api.openai.com/v1/chat/completions")
                .unwrap()
                .is_https()
        );
        assert!(!Endpoint::parse("http://127.0.0.1:1/").unwrap().is_https());
        assert_eq!(Endpoint::parse("not-a-url"), Err(EndpointError::NoScheme));
        assert_eq!(
            Endpoint::parse("ftp://x/y"),
            Err(EndpointError::Scheme("ftp".to_owned()))
        );
        for no_host in [
            "http://",
            "https:///v1",
            "http://exa mple.com/",
            "http://?x",
        ] {
            assert_eq!(
                Endpoint::parse(no_host),
                Err(EndpointError::BadHost),
                "{no_host}"
            );
        }
    }
}

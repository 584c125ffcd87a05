//! A webhook's URL: what may be registered, and where it points. A URL that
//! names an address outright is judged when it is registered; a host name is
//! judged at each delivery, by every address it resolves to then (a name's
//! addresses change; delivery.rs connects to the addresses it judged).

use super::addresses::AddressPolicy;
use kit::{ServiceError, ServiceResult};
use std::net::IpAddr;

/// The longest URL accepted (bytes).
pub const MAX_URL_LEN: usize = 500;

const BAD_URL: &str = "请填写以 http:// 或 https:// 开头、不超过 500 个字符的地址";
const NOT_PUBLIC: &str = "Webhook 地址须为公网地址";

/// An http or https URL with a host, at most [`MAX_URL_LEN`] long.
/// (`reqwest::Url` is the `url` crate's WHATWG parser: no I/O.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(reqwest::Url);

/// Where a URL points: an address written out, or a name to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host<'a> {
    Address(IpAddr),
    Name(&'a str),
}

impl WebhookUrl {
    /// Parses a URL as typed or stored (surrounding blanks ignored).
    pub fn parse(raw: &str) -> ServiceResult<WebhookUrl> {
        let raw = raw.trim();
        let bad = || ServiceError::invalid("url", BAD_URL);
        // The parser would silently drop tabs and newlines; refuse them instead.
        if raw.len() > MAX_URL_LEN || raw.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        let url = reqwest::Url::parse(raw).map_err(|_| bad())?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(bad());
        }
        Ok(WebhookUrl(url))
    }

    /// [`WebhookUrl::parse`], refusing an address written in the URL that
    /// `policy` does not permit (a name is checked when it is resolved).
    pub fn register(raw: &str, policy: &AddressPolicy) -> ServiceResult<WebhookUrl> {
        let url = WebhookUrl::parse(raw)?;
        match url.host() {
            Host::Address(ip) if !policy.permits(ip) => Err(ServiceError::invalid("url", NOT_PUBLIC)),
            _ => Ok(url),
        }
    }

    pub fn host(&self) -> Host<'_> {
        let host = self.0.host_str().unwrap_or_default();
        // The parser has already made every spelling of an address
        // (2130706433, 0x7f.1, [::ffff:127.0.0.1]) its canonical form.
        match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => Host::Address(ip),
            Err(_) => Host::Name(host),
        }
    }

    /// The port connected to: the URL's, else its scheme's.
    pub fn port(&self) -> u16 {
        self.0.port_or_known_default().unwrap_or(80)
    }

    pub fn url(&self) -> &reqwest::Url {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_and_message(e: ServiceError) -> (String, String) {
        match e {
            ServiceError::InvalidArgument(v) => (v[0].field.clone(), v[0].description.clone()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_http_urls_with_a_host_are_webhooks() {
        for bad in [
            "ftp://x",
            "file:///etc/passwd",
            "gopher://127.0.0.1:25/",
            "javascript:alert(1)",
            "http://",
            "http:// example.cn/",
            "http://exa\tmple.cn/",
            "hooks.example.cn/x",
            "",
        ] {
            let (field, message) = field_and_message(WebhookUrl::parse(bad).unwrap_err());
            assert_eq!((field.as_str(), message.as_str()), ("url", BAD_URL), "{bad:?}");
        }
        let long = format!("https://hooks.example.cn/{}", "a".repeat(MAX_URL_LEN));
        assert!(WebhookUrl::parse(&long).is_err());
        let ok = WebhookUrl::parse("  https://Hooks.Example.cn/sanshi?k=v ").unwrap();
        assert_eq!(ok.host(), Host::Name("hooks.example.cn"));
        assert_eq!(ok.port(), 443);
        assert_eq!(WebhookUrl::parse("http://localhost:9000/hook").unwrap().port(), 9000);
    }

    #[test]
    fn written_addresses_are_read_in_every_spelling() {
        for (raw, address) in [
            ("http://127.0.0.1:9000/hook", "127.0.0.1"),
            ("http://2130706433/", "127.0.0.1"),
            ("http://0x7f.1/", "127.0.0.1"),
            ("http://[::1]:8080/", "::1"),
            ("http://[::ffff:127.0.0.1]/", "::ffff:127.0.0.1"),
            ("https://169.254.169.254/latest/meta-data", "169.254.169.254"),
        ] {
            let url = WebhookUrl::parse(raw).unwrap();
            assert_eq!(url.host(), Host::Address(address.parse().unwrap()), "{raw}");
        }
    }

    #[test]
    fn registration_refuses_written_private_addresses() {
        let public = AddressPolicy::default();
        for raw in [
            "http://169.254.169.254/latest/meta-data",
            "http://10.0.0.1/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::1]/",
            "http://0.0.0.0:8080/",
            "http://2130706433/",
            "http://192.168.1.1/admin",
            "http://[fd00::1]/",
        ] {
            let (field, message) = field_and_message(WebhookUrl::register(raw, &public).unwrap_err());
            assert_eq!((field.as_str(), message.as_str()), ("url", NOT_PUBLIC), "{raw}");
        }
        // Names are judged when they are resolved, at delivery.
        assert!(WebhookUrl::register("http://localhost:9000/hook", &public).is_ok());
        assert!(WebhookUrl::register("https://8.8.8.8/hook", &public).is_ok());
        let loopback = AddressPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]);
        assert!(WebhookUrl::register("http://127.0.0.1:9000/hook", &loopback).is_ok());
        assert!(WebhookUrl::register("http://[::ffff:127.0.0.1]/", &loopback).is_ok());
        assert!(WebhookUrl::register("http://10.0.0.1/", &loopback).is_err());
    }
}

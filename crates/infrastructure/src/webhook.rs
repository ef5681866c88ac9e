//! Webhook delivery over HTTP(S), refusing private destinations by default.
//!
//! A multi-tenant service that POSTs to URLs its tenants choose must not become a way into
//! its own network: unless `NOTIFY_ALLOW_PRIVATE_NETWORKS` is set, a URL whose host is or
//! resolves to a loopback, private, link-local or otherwise non-public address is refused,
//! and redirects are not followed. Host names are checked by the HTTP client's own resolver
//! ([`PublicOnlyResolver`]), so the addresses checked are the addresses connected to: a DNS
//! answer that changes between a check and the connection (DNS rebinding) cannot slip by.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use telemetry_application::ports::{PortError, WebhookOutcome, WebhookSender};

pub struct HttpWebhookSender {
    client: reqwest::Client,
    allow_private: bool,
}

impl HttpWebhookSender {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, PortError> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("telemetry-platform/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            // Through a proxy the proxy resolves the host, and the addresses checked here
            // would not be the ones connected to: the proxy settings of the environment
            // (`HTTP_PROXY`, `HTTPS_PROXY`) are ignored while private networks are refused.
            builder = builder
                .dns_resolver(Arc::new(PublicOnlyResolver { timeout }))
                .no_proxy();
        }
        let client = builder.build().map_err(PortError::failed)?;
        Ok(Self {
            client,
            allow_private,
        })
    }

    /// Why `url` may not be called, if it may not: no host, or a literal address that is
    /// not public (host names are checked when they are resolved).
    fn refused(&self, url: &reqwest::Url) -> Option<WebhookOutcome> {
        if self.allow_private {
            return None;
        }
        let Some(host) = url.host_str() else {
            return Some(WebhookOutcome::Reject("the URL has no host".into()));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let address = host.parse::<IpAddr>().ok()?;
        (!is_public(&address)).then(|| {
            WebhookOutcome::Reject(
                NonPublicAddress {
                    host: host.to_string(),
                    address,
                }
                .to_string(),
            )
        })
    }
}

/// A host name that resolves to an address webhooks may not reach.
#[derive(Debug, thiserror::Error)]
#[error("refused: {host} resolves to the non-public address {address}")]
struct NonPublicAddress {
    host: String,
    address: IpAddr,
}

/// Resolves host names for the webhook client and fails the lookup when any address is not
/// public, so the connection is never attempted.
struct PublicOnlyResolver {
    timeout: Duration,
}

impl Resolve for PublicOnlyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_string();
        let timeout = self.timeout;
        Box::pin(async move {
            let lookup = tokio::net::lookup_host((host.as_str(), 0));
            let addresses: Vec<SocketAddr> = match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(resolved)) => resolved.collect(),
                Ok(Err(error)) => return Err(format!("cannot resolve {host}: {error}").into()),
                Err(_) => return Err(format!("resolving {host} timed out").into()),
            };
            if let Some(socket) = addresses.iter().find(|socket| !is_public(&socket.ip())) {
                let address = socket.ip();
                return Err(Box::new(NonPublicAddress { host, address }) as _);
            }
            Ok(Box::new(addresses.into_iter()) as Addrs)
        })
    }
}

/// `error` and its causes, `: `-separated (reqwest's own message names only the request).
fn explain(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The address refusal among the causes of `error`, if that is why it failed.
fn refusal(error: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn StdError + 'static)> = error.source();
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NonPublicAddress>() {
            return Some(refused.to_string());
        }
        source = cause.source();
    }
    None
}

/// Whether `address` is on the public internet.
///
/// IPv6 forms that carry an IPv4 address a router or gateway would reach (IPv4-mapped
/// `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::`) are judged by that IPv4 address; Teredo, site-local, documentation,
/// discard and local-use NAT64 prefixes are never public.
fn is_public(address: &IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && c == 0)
                || (a == 192 && b == 88 && c == 99)
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            let embedded = |high: u16, low: u16| {
                IpAddr::V4(Ipv4Addr::from((u32::from(high) << 16) | u32::from(low)))
            };
            let segments = v6.segments();
            match segments {
                // IPv4-compatible (`::1` and `::` included), IPv4-mapped, NAT64.
                [0, 0, 0, 0, 0, 0 | 0xffff, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
                    return is_public(&embedded(high, low))
                }
                // 6to4.
                [0x2002, high, low, ..] => return is_public(&embedded(high, low)),
                _ => {}
            }
            let [first, second, ..] = segments;
            !(v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || (first & 0xffc0) == 0xfec0
                || (first == 0x2001 && second == 0)
                || (first == 0x2001 && second == 0x0db8)
                || (first == 0x0064 && second == 0xff9b)
                || segments[..4] == [0x0100, 0, 0, 0])
        }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, url: &str, body: &str, headers: &[(String, String)]) -> WebhookOutcome {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return WebhookOutcome::Reject(format!("not a valid URL: {url}"));
        };
        if let Some(outcome) = self.refused(&parsed) {
            return outcome;
        }
        let mut request = self.client.post(parsed).body(body.to_string());
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status();
                if status.is_success() {
                    WebhookOutcome::Delivered
                } else if status.is_server_error()
                    || status.as_u16() == 408
                    || status.as_u16() == 429
                {
                    WebhookOutcome::Retry(format!("the receiver answered {status}"))
                } else {
                    WebhookOutcome::Reject(format!("the receiver answered {status}"))
                }
            }
            Err(error) => match refusal(&error) {
                Some(refused) => WebhookOutcome::Reject(refused),
                None if error.is_timeout() => {
                    WebhookOutcome::Retry("the receiver did not answer in time".into())
                }
                None => WebhookOutcome::Retry(format!("the request failed: {}", explain(&error))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for address in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.9",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::",
            "2002:a00:1::1",
            "fec0::1",
            "2001::1",
            "2001:db8::1",
            "100::1",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.254",
            "192.88.99.1",
        ] {
            assert!(!is_public(&address.parse().unwrap()), "{address}");
        }
        for address in [
            "93.184.216.34",
            "2606:4700::1111",
            "8.8.8.8",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(&address.parse().unwrap()), "{address}");
        }
    }

    #[tokio::test]
    async fn private_destinations_are_refused_unless_allowed() {
        let strict = HttpWebhookSender::new(Duration::from_millis(200), false).unwrap();
        let outcome = strict.send("http://127.0.0.1:9/hook", "{}", &[]).await;
        assert!(matches!(outcome, WebhookOutcome::Reject(reason) if reason.contains("non-public")));
        let lenient = HttpWebhookSender::new(Duration::from_millis(200), true).unwrap();
        let outcome = lenient.send("http://127.0.0.1:9/hook", "{}", &[]).await;
        assert!(matches!(outcome, WebhookOutcome::Retry(_)));
    }

    #[tokio::test]
    async fn host_names_are_checked_by_the_addresses_they_resolve_to() {
        // `localhost` resolves to loopback: the connection is never attempted. (A generous
        // timeout: the lookup runs on a blocking thread that may start late.)
        let strict = HttpWebhookSender::new(Duration::from_secs(5), false).unwrap();
        let outcome = strict.send("http://localhost:9/hook", "{}", &[]).await;
        assert!(
            matches!(&outcome, WebhookOutcome::Reject(reason)
                if reason.contains("localhost resolves to the non-public address")),
            "{outcome:?}"
        );
        let lenient = HttpWebhookSender::new(Duration::from_millis(500), true).unwrap();
        let outcome = lenient.send("http://localhost:9/hook", "{}", &[]).await;
        assert!(matches!(outcome, WebhookOutcome::Retry(_)), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_failed_lookup_is_retried_not_given_up() {
        // The lookup answers at once, but on a loaded machine the blocking thread it runs
        // on may start late: a short timeout would report the wait, not the failed lookup.
        let strict = HttpWebhookSender::new(Duration::from_secs(5), false).unwrap();
        let outcome = strict
            .send("http://no-such-host.invalid/hook", "{}", &[])
            .await;
        assert!(
            matches!(&outcome, WebhookOutcome::Retry(reason) if reason.contains("cannot resolve no-such-host.invalid")),
            "{outcome:?}"
        );
        let outcome = strict.send("not a url", "{}", &[]).await;
        assert!(matches!(outcome, WebhookOutcome::Reject(_)));
    }
}

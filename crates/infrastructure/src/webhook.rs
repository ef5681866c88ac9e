//! Webhook delivery over HTTP(S), refusing private destinations by default.
//!
//! A multi-tenant service that POSTs to URLs its tenants choose must not become a way into
//! its own network: unless `NOTIFY_ALLOW_PRIVATE_NETWORKS` is set, a URL whose host resolves
//! to a loopback, private, link-local or otherwise non-public address is refused, and
//! redirects are not followed. (The address is checked before the request, so a host whose
//! DNS answer changes in between is not caught; a proxy that enforces egress rules is the
//! complete answer.)

use std::net::IpAddr;
use std::time::Duration;

use async_trait::async_trait;
use telemetry_application::ports::{PortError, WebhookOutcome, WebhookSender};

pub struct HttpWebhookSender {
    client: reqwest::Client,
    allow_private: bool,
    /// Bounds the DNS lookup of the address check, like the request itself.
    timeout: Duration,
}

impl HttpWebhookSender {
    pub fn new(timeout: Duration, allow_private: bool) -> Result<Self, PortError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("telemetry-platform/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(PortError::failed)?;
        Ok(Self {
            client,
            allow_private,
            timeout,
        })
    }

    /// Why `url` may not be called now, if it may not: a refusal by policy, or a failed DNS
    /// lookup (worth retrying).
    async fn refused(&self, url: &reqwest::Url) -> Option<WebhookOutcome> {
        if self.allow_private {
            return None;
        }
        let Some(host) = url.host_str() else {
            return Some(WebhookOutcome::Reject("the URL has no host".into()));
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port_or_known_default().unwrap_or(443);
        let addresses: Vec<IpAddr> = match host.parse::<IpAddr>() {
            Ok(address) => vec![address],
            Err(_) => {
                let lookup = tokio::net::lookup_host((host, port));
                match tokio::time::timeout(self.timeout, lookup).await {
                    Ok(Ok(resolved)) => resolved.map(|socket| socket.ip()).collect(),
                    Ok(Err(error)) => {
                        return Some(WebhookOutcome::Retry(format!(
                            "cannot resolve {host}: {error}"
                        )))
                    }
                    Err(_) => {
                        return Some(WebhookOutcome::Retry(format!("resolving {host} timed out")))
                    }
                }
            }
        };
        addresses
            .iter()
            .find(|address| !is_public(address))
            .map(|address| {
                WebhookOutcome::Reject(format!(
                    "refused: {host} resolves to the non-public address {address}"
                ))
            })
    }
}

/// Whether `address` is on the public internet.
pub fn is_public(address: &IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(&IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

#[async_trait]
impl WebhookSender for HttpWebhookSender {
    async fn send(&self, url: &str, body: &str, headers: &[(String, String)]) -> WebhookOutcome {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return WebhookOutcome::Reject(format!("not a valid URL: {url}"));
        };
        if let Some(outcome) = self.refused(&parsed).await {
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
            Err(error) if error.is_timeout() => {
                WebhookOutcome::Retry("the receiver did not answer in time".into())
            }
            Err(error) => WebhookOutcome::Retry(format!("the request failed: {error}")),
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
        ] {
            assert!(!is_public(&address.parse().unwrap()), "{address}");
        }
        for address in ["93.184.216.34", "2606:4700::1111", "8.8.8.8"] {
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
    async fn a_failed_lookup_is_retried_not_given_up() {
        let strict = HttpWebhookSender::new(Duration::from_millis(200), false).unwrap();
        let outcome = strict
            .send("http://no-such-host.invalid/hook", "{}", &[])
            .await;
        assert!(
            matches!(&outcome, WebhookOutcome::Retry(reason) if reason.contains("cannot resolve")),
            "{outcome:?}"
        );
        let outcome = strict.send("not a url", "{}", &[]).await;
        assert!(matches!(outcome, WebhookOutcome::Reject(_)));
    }
}

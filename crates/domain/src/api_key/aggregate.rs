//! The `ApiKey` aggregate.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::ApiKeyCommand;
use super::errors::ApiKeyError;
use super::events::ApiKeyEvent;
use crate::values::{ApiKeyId, TenantId};

/// The state of one key: who owns it, its digest, and whether it still works.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiKey {
    issued: Option<IssuedKey>,
    revoked: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct IssuedKey {
    key_id: ApiKeyId,
    key_digest: String,
    tenant_id: TenantId,
    label: String,
}

impl ApiKey {
    /// The tenant this key authenticates as, if `digest` matches and the key is active.
    pub fn tenant_for(&self, digest: &str) -> Option<&TenantId> {
        let issued = self.issued.as_ref()?;
        (!self.revoked && same_in_constant_time(&issued.key_digest, digest))
            .then_some(&issued.tenant_id)
    }

    pub fn tenant_id(&self) -> Option<&TenantId> {
        self.issued.as_ref().map(|issued| &issued.tenant_id)
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked
    }

    /// What the key is for, as given when it was issued.
    pub fn label(&self) -> Option<&str> {
        self.issued.as_ref().map(|issued| issued.label.as_str())
    }
}

/// Compares two digests without stopping at the first difference, so the time taken says
/// nothing about how much of a guess matched.
fn same_in_constant_time(left: &str, right: &str) -> bool {
    left.len() == right.len()
        && left
            .bytes()
            .zip(right.bytes())
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// The aggregate type `ApiKey` events are stored under (usable in `match` patterns).
pub const API_KEY: &str = "ApiKey";

impl Aggregate for ApiKey {
    const TYPE: &'static str = API_KEY;
    type Command = ApiKeyCommand;
    type Event = ApiKeyEvent;
    type Error = ApiKeyError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ApiKeyCommand::Issue {
                key_id,
                key_digest,
                tenant_id,
                label,
                issued_at,
            } => {
                if self.revoked {
                    return Err(ApiKeyError::Revoked);
                }
                if let Some(issued) = &self.issued {
                    if issued.tenant_id != tenant_id || issued.key_digest != key_digest {
                        return Err(ApiKeyError::OwnedByAnotherTenant);
                    }
                    return Ok(());
                }
                let event = ApiKeyEvent::ApiKeyIssued {
                    key_id,
                    key_digest,
                    tenant_id,
                    label,
                    issued_at,
                };
                sink.write(event, self).await;
                Ok(())
            }
            ApiKeyCommand::Revoke { revoked_at } => {
                let Some(issued) = &self.issued else {
                    return Err(ApiKeyError::NotIssued);
                };
                if self.revoked {
                    return Ok(());
                }
                let event = ApiKeyEvent::ApiKeyRevoked {
                    key_id: issued.key_id.clone(),
                    tenant_id: issued.tenant_id.clone(),
                    revoked_at,
                };
                sink.write(event, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ApiKeyEvent::ApiKeyIssued {
                key_id,
                key_digest,
                tenant_id,
                label,
                ..
            } => {
                self.issued = Some(IssuedKey {
                    key_id,
                    key_digest,
                    tenant_id,
                    label,
                });
            }
            ApiKeyEvent::ApiKeyRevoked { .. } => self.revoked = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::values::Timestamp;

    fn at() -> Timestamp {
        Timestamp::from_micros(1_000).unwrap()
    }

    fn issue(tenant: &str, digest: &str) -> ApiKeyCommand {
        ApiKeyCommand::Issue {
            key_id: ApiKeyId::parse("00000000000000aa").unwrap(),
            key_digest: digest.to_string(),
            tenant_id: TenantId::parse(tenant).unwrap(),
            label: "bootstrap".to_string(),
            issued_at: at(),
        }
    }

    fn issued(tenant: &str, digest: &str) -> ApiKeyEvent {
        ApiKeyEvent::ApiKeyIssued {
            key_id: ApiKeyId::parse("00000000000000aa").unwrap(),
            key_digest: digest.to_string(),
            tenant_id: TenantId::parse(tenant).unwrap(),
            label: "bootstrap".to_string(),
            issued_at: at(),
        }
    }

    #[test]
    fn issuing_a_new_key_records_it() {
        TestFramework::<ApiKey>::with(())
            .given_no_previous_events()
            .when(issue("acme", "d1"))
            .then_expect_events(vec![issued("acme", "d1")]);
    }

    #[test]
    fn issuing_the_same_key_again_changes_nothing() {
        TestFramework::<ApiKey>::with(())
            .given(vec![issued("acme", "d1")])
            .when(issue("acme", "d1"))
            .then_expect_events(vec![]);
    }

    #[test]
    fn a_key_cannot_move_to_another_tenant() {
        TestFramework::<ApiKey>::with(())
            .given(vec![issued("acme", "d1")])
            .when(issue("globex", "d1"))
            .then_expect_error(ApiKeyError::OwnedByAnotherTenant);
    }

    #[test]
    fn revoked_keys_stay_revoked() {
        let revoked = ApiKeyEvent::ApiKeyRevoked {
            key_id: ApiKeyId::parse("00000000000000aa").unwrap(),
            tenant_id: TenantId::parse("acme").unwrap(),
            revoked_at: at(),
        };
        TestFramework::<ApiKey>::with(())
            .given(vec![issued("acme", "d1")])
            .when(ApiKeyCommand::Revoke { revoked_at: at() })
            .then_expect_events(vec![revoked.clone()]);
        TestFramework::<ApiKey>::with(())
            .given(vec![issued("acme", "d1"), revoked])
            .when(issue("acme", "d1"))
            .then_expect_error(ApiKeyError::Revoked);
    }

    #[test]
    fn only_the_matching_digest_of_an_active_key_authenticates() {
        let mut key = ApiKey::default();
        key.apply(issued("acme", "d1"));
        assert_eq!(key.tenant_for("d1").unwrap().as_str(), "acme");
        assert!(key.tenant_for("d2").is_none());
        assert!(
            key.tenant_for("d").is_none(),
            "a prefix of the digest is not the digest"
        );
    }
}

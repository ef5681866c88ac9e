//! Dead letters: notifications whose deliveries kept failing. Asking for one to be delivered
//! again is an administrative action, so it is a command on a `DeadLetter` aggregate (one
//! per delivery) and lands in the audit log like every other.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

use crate::values::{TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub enum DeadLetterCommand {
    Redeliver {
        delivery_id: String,
        tenant_id: TenantId,
        at: Timestamp,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeadLetterEvent {
    DeadLetterRedelivered {
        delivery_id: String,
        tenant_id: TenantId,
        at: Timestamp,
    },
}

impl DomainEvent for DeadLetterEvent {
    fn event_type(&self) -> String {
        "DeadLetterRedelivered".to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeadLetterError {
    #[error("the delivery belongs to another tenant")]
    OtherTenant,
}

/// How often a delivery was sent again by hand.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    tenant_id: Option<TenantId>,
    redeliveries: u32,
}

impl DeadLetter {
    pub fn redeliveries(&self) -> u32 {
        self.redeliveries
    }
}

/// The aggregate type `DeadLetter` events are stored under (usable in `match` patterns).
pub const DEAD_LETTER: &str = "DeadLetter";

impl Aggregate for DeadLetter {
    const TYPE: &'static str = DEAD_LETTER;
    type Command = DeadLetterCommand;
    type Event = DeadLetterEvent;
    type Error = DeadLetterError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        let DeadLetterCommand::Redeliver {
            delivery_id,
            tenant_id,
            at,
        } = command;
        if self
            .tenant_id
            .as_ref()
            .is_some_and(|owner| *owner != tenant_id)
        {
            return Err(DeadLetterError::OtherTenant);
        }
        let event = DeadLetterEvent::DeadLetterRedelivered {
            delivery_id,
            tenant_id,
            at,
        };
        sink.write(event, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Self::Event) {
        let DeadLetterEvent::DeadLetterRedelivered { tenant_id, .. } = event;
        self.tenant_id = Some(tenant_id);
        self.redeliveries += 1;
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;

    fn redelivered(tenant: &str) -> DeadLetterEvent {
        DeadLetterEvent::DeadLetterRedelivered {
            delivery_id: "n1:0".into(),
            tenant_id: TenantId::parse(tenant).unwrap(),
            at: Timestamp::from_micros(1).unwrap(),
        }
    }

    fn redeliver(tenant: &str) -> DeadLetterCommand {
        DeadLetterCommand::Redeliver {
            delivery_id: "n1:0".into(),
            tenant_id: TenantId::parse(tenant).unwrap(),
            at: Timestamp::from_micros(1).unwrap(),
        }
    }

    #[test]
    fn every_redelivery_is_recorded() {
        TestFramework::<DeadLetter>::with(())
            .given(vec![redelivered("acme")])
            .when(redeliver("acme"))
            .then_expect_events(vec![redelivered("acme")]);
    }

    #[test]
    fn another_tenant_cannot_redeliver() {
        TestFramework::<DeadLetter>::with(())
            .given(vec![redelivered("acme")])
            .when(redeliver("globex"))
            .then_expect_error(DeadLetterError::OtherTenant);
    }
}

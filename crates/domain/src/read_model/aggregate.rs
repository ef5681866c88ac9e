//! The `ReadModel` aggregate.

use cqrs_es::event_sink::EventSink;
use cqrs_es::Aggregate;
use serde::{Deserialize, Serialize};

use super::commands::ReadModelCommand;
use super::errors::ReadModelError;
use super::events::ReadModelEvent;
use super::ReadModelName;

/// The requested generation of one read model (0 until a rebuild is first requested).
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadModel {
    name: Option<ReadModelName>,
    generation: u64,
}

impl ReadModel {
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

/// The aggregate type `ReadModel` events are stored under (usable in `match` patterns).
pub const READ_MODEL: &str = "ReadModel";

impl Aggregate for ReadModel {
    const TYPE: &'static str = READ_MODEL;
    type Command = ReadModelCommand;
    type Event = ReadModelEvent;
    type Error = ReadModelError;
    type Services = ();

    async fn handle(
        &mut self,
        command: Self::Command,
        _services: &Self::Services,
        sink: &EventSink<Self>,
    ) -> Result<(), Self::Error> {
        match command {
            ReadModelCommand::RequestRebuild { name, requested_at } => {
                if let Some(own) = self.name.filter(|own| *own != name) {
                    return Err(ReadModelError::WrongReadModel(own.to_string()));
                }
                let event = ReadModelEvent::ReadModelRebuildRequested {
                    name,
                    generation: self.generation + 1,
                    requested_at,
                };
                sink.write(event, self).await;
                Ok(())
            }
        }
    }

    fn apply(&mut self, event: Self::Event) {
        match event {
            ReadModelEvent::ReadModelRebuildRequested {
                name, generation, ..
            } => {
                self.name = Some(name);
                self.generation = generation;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use cqrs_es::test::TestFramework;

    use super::*;
    use crate::values::Timestamp;

    fn at() -> Timestamp {
        Timestamp::from_micros(5).unwrap()
    }

    fn requested(generation: u64) -> ReadModelEvent {
        ReadModelEvent::ReadModelRebuildRequested {
            name: ReadModelName::Rollups,
            generation,
            requested_at: at(),
        }
    }

    fn request(name: ReadModelName) -> ReadModelCommand {
        ReadModelCommand::RequestRebuild {
            name,
            requested_at: at(),
        }
    }

    #[test]
    fn each_request_bumps_the_generation() {
        TestFramework::<ReadModel>::with(())
            .given_no_previous_events()
            .when(request(ReadModelName::Rollups))
            .then_expect_events(vec![requested(1)]);
        TestFramework::<ReadModel>::with(())
            .given(vec![requested(1), requested(2)])
            .when(request(ReadModelName::Rollups))
            .then_expect_events(vec![requested(3)]);
    }

    #[test]
    fn an_instance_serves_one_read_model() {
        TestFramework::<ReadModel>::with(())
            .given(vec![requested(1)])
            .when(request(ReadModelName::Audit))
            .then_expect_error(ReadModelError::WrongReadModel("rollups".into()));
    }

    #[test]
    fn names_parse() {
        assert_eq!(ReadModelName::parse("audit"), Ok(ReadModelName::Audit));
        assert_eq!(ReadModelName::parse("rollups"), Ok(ReadModelName::Rollups));
        // The former name is still read, and still what is recorded.
        assert_eq!(
            ReadModelName::parse("aggregation"),
            Ok(ReadModelName::Rollups)
        );
        assert_eq!(ReadModelName::Rollups.storage_key(), "aggregation");
        assert_eq!(
            serde_json::to_string(&ReadModelName::Rollups).unwrap(),
            "\"aggregation\""
        );
        assert_eq!(
            serde_json::from_str::<ReadModelName>("\"rollups\"").unwrap(),
            ReadModelName::Rollups
        );
        assert!(ReadModelName::parse("alerts").is_err());
    }
}

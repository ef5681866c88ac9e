//! Domain events of the `IngestBatch` aggregate.

use cqrs_es::DomainEvent;
use serde::{Deserialize, Serialize};

use super::record::EventSection;
use crate::values::{ApiKeyId, EventType, TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum IngestBatchEvent {
    /// The receipt of a batch: always the first event of a batch.
    BatchAccepted(BatchAccepted),
    LogIngested(EventSection),
    MetricIngested(EventSection),
    TraceIngested(EventSection),
}

/// Accepted events per type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeCounts {
    pub log: u32,
    pub metric: u32,
    pub trace: u32,
}

impl TypeCounts {
    pub fn add(&mut self, event_type: EventType) {
        match event_type {
            EventType::Log => self.log += 1,
            EventType::Metric => self.metric += 1,
            EventType::Trace => self.trace += 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchAccepted {
    pub batch_id: String,
    pub tenant_id: TenantId,
    pub key_id: ApiKeyId,
    pub received_at: Timestamp,
    pub request_fingerprint: String,
    /// Events recorded by this batch.
    pub ingested: u32,
    /// Events skipped because an earlier batch, or an earlier event of this batch, had the
    /// same event id.
    pub duplicates: u32,
    pub accepted_by_type: TypeCounts,
    /// The batch came from an OpenTelemetry export (left out of the stored receipt when
    /// not, so receipts of `/ingest` batches are as before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub otlp: bool,
}

impl IngestBatchEvent {
    pub const BATCH_ACCEPTED: &'static str = "BatchAccepted";
    pub const LOG_INGESTED: &'static str = "LogIngested";
    pub const METRIC_INGESTED: &'static str = "MetricIngested";
    pub const TRACE_INGESTED: &'static str = "TraceIngested";

    /// The section event for events of `event_type`.
    pub fn section(section: EventSection) -> Self {
        match section.event_type {
            EventType::Log => Self::LogIngested(section),
            EventType::Metric => Self::MetricIngested(section),
            EventType::Trace => Self::TraceIngested(section),
        }
    }

    /// The events this domain event carries, if it is a section.
    pub fn as_section(&self) -> Option<&EventSection> {
        match self {
            Self::BatchAccepted(_) => None,
            Self::LogIngested(section)
            | Self::MetricIngested(section)
            | Self::TraceIngested(section) => Some(section),
        }
    }
}

impl DomainEvent for IngestBatchEvent {
    fn event_type(&self) -> String {
        match self {
            Self::BatchAccepted(_) => Self::BATCH_ACCEPTED,
            Self::LogIngested(_) => Self::LOG_INGESTED,
            Self::MetricIngested(_) => Self::METRIC_INGESTED,
            Self::TraceIngested(_) => Self::TRACE_INGESTED,
        }
        .to_string()
    }

    fn event_version(&self) -> String {
        "1".to_string()
    }
}

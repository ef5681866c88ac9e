//! The aggregation read model: one analytics row per recorded telemetry event (the store
//! derives its minute, hour and day rollups from those rows).

use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent, MetricSample};
use telemetry_domain::values::{EventType, Timestamp};

use crate::ports::{EventFilter, EventRow, RowPosition, StoredEvent};

/// The section events of ingest batches.
pub fn filters() -> Vec<EventFilter<'static>> {
    vec![EventFilter {
        aggregate_type: <IngestBatch as cqrs_es::Aggregate>::TYPE,
        event_types: &[
            IngestBatchEvent::LOG_INGESTED,
            IngestBatchEvent::METRIC_INGESTED,
            IngestBatchEvent::TRACE_INGESTED,
        ],
    }]
}

/// One row per event of a section, indexed in section order.
pub fn event_rows(event: &StoredEvent) -> Result<Vec<EventRow>, String> {
    let domain_event: IngestBatchEvent = event
        .decode()
        .map_err(|error| format!("undecodable ingest event: {error}"))?;
    let Some(section) = domain_event.as_section() else {
        return Ok(Vec::new());
    };
    let recorded_at = Timestamp::from_datetime(event.recorded_at).map_err(|e| e.to_string())?;
    let mut rows = Vec::with_capacity(section.events.len());
    for (index, telemetry) in section.events.iter().enumerate() {
        let metric = match telemetry.event_type {
            EventType::Metric => {
                let sample = MetricSample::from_payload(&telemetry.payload).map_err(|error| {
                    format!("metric event {} has no sample: {error}", telemetry.event_id)
                })?;
                Some((sample.name.into_inner(), sample.value))
            }
            EventType::Log | EventType::Trace => None,
        };
        rows.push(EventRow {
            tenant_id: section.tenant_id.clone(),
            event_id: telemetry.event_id.to_string(),
            event_type: telemetry.event_type,
            service_name: telemetry.service_name.to_string(),
            timestamp: telemetry.timestamp,
            user_id: telemetry
                .user_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            metric,
            payload: telemetry.payload.as_str().to_string(),
            source: RowPosition {
                event: event.position,
                index: u32::try_from(index).map_err(|e| e.to_string())?,
            },
            recorded_at,
        });
    }
    Ok(rows)
}

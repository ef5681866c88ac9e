//! The rollups read model: one analytics row per recorded telemetry event (the store
//! derives its minute, hour and day rollups from those rows).

use sha2::{Digest, Sha256};
use telemetry_domain::ingest::{IngestBatch, IngestBatchEvent, MetricSample, TelemetryEvent};
use telemetry_domain::metric::{MetricShape, Temporality};
use telemetry_domain::values::{EventType, Timestamp};

use super::ProjectionError;
use crate::ports::{EventFilter, EventRow, HistogramColumns, MetricRow, RowPosition, StoredEvent};

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
pub fn event_rows(event: &StoredEvent) -> Result<Vec<EventRow>, ProjectionError> {
    let domain_event: IngestBatchEvent = event
        .decode()
        .map_err(ProjectionError::undecodable(event))?;
    let Some(section) = domain_event.as_section() else {
        return Ok(Vec::new());
    };
    let recorded_at =
        Timestamp::from_datetime(event.recorded_at).map_err(ProjectionError::RecordedAt)?;
    let mut rows = Vec::with_capacity(section.events.len());
    for (index, telemetry) in section.events.iter().enumerate() {
        let metric = match telemetry.event_type {
            EventType::Metric => Some(metric_row(telemetry)?),
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
                index: u32::try_from(index).map_err(ProjectionError::TooManyEvents)?,
            },
            recorded_at,
        });
    }
    Ok(rows)
}

/// A metric event's analytics columns: its sample, and what its declared kind adds.
fn metric_row(telemetry: &TelemetryEvent) -> Result<MetricRow, ProjectionError> {
    let event_id = || telemetry.event_id.to_string();
    let sample = MetricSample::from_payload(&telemetry.payload).map_err(|source| {
        ProjectionError::NoSample {
            event_id: event_id(),
            source,
        }
    })?;
    let shape = MetricShape::from_payload(telemetry.payload.as_str()).map_err(|source| {
        ProjectionError::Shape {
            event_id: event_id(),
            source,
        }
    })?;
    let mut digest = Sha256::new();
    digest.update(telemetry.service_name.as_str().as_bytes());
    digest.update([0]);
    digest.update(sample.series_key().as_bytes());
    let series_id: String = digest.finalize()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    // A histogram's value column holds its count: runs are ordered by it.
    let value = shape
        .histogram
        .as_ref()
        .map_or(sample.value, |point| point.count as f64);
    let histogram = shape.histogram.map(|point| {
        let (keys, counts) = point.buckets.into_iter().unzip();
        HistogramColumns {
            layout: point.layout.key(),
            sum: point.sum.unwrap_or(0.0),
            min: point.min.unwrap_or(f64::INFINITY),
            max: point.max.unwrap_or(f64::NEG_INFINITY),
            keys,
            counts,
        }
    });
    Ok(MetricRow {
        name: sample.name.into_inner(),
        value,
        kind: shape.kind,
        delta: shape.temporality == Some(Temporality::Delta),
        unit: sample.unit.unwrap_or_default(),
        series_id,
        start_us: shape.start.map_or(0, |start| start.as_micros()),
        histogram,
    })
}

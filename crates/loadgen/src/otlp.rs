//! OTLP exports for the ingestion benchmark, as an OpenTelemetry SDK or Collector sends
//! them: log exports of the same shape of traffic as `POST /ingest` (seed-shaped log lines
//! over twelve services), and metric exports (half number points, half histograms).

use prost::Message;
use telemetry_presentation::otlp::proto::{
    any_value, metric, number_data_point, AnyValue, ExportLogsServiceRequest,
    ExportMetricsServiceRequest, Histogram, HistogramDataPoint, KeyValue, LogRecord, Metric,
    NumberDataPoint, Resource, ResourceLogs, ResourceMetrics, ScopeLogs, ScopeMetrics, Sum,
};

use crate::events::{mix, ROUTES, SERVICES};

fn text(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
    }
}

/// An `ExportLogsServiceRequest` of `batch_size` log records, one resource per service.
/// Every record carries a `request.id` unique to (prefix, sequence, index), so every record
/// of every request is new to the service.
pub fn logs_body(prefix: &str, sequence: u64, batch_size: usize, now_nanos: u64) -> Vec<u8> {
    let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES.len()];
    for index in 0..batch_size as u64 {
        let h = mix(sequence << 24 ^ index);
        let route = ROUTES[(h >> 16) as usize % ROUTES.len()];
        by_service[(h >> 8) as usize % SERVICES.len()].push(LogRecord {
            time_unix_nano: now_nanos - h % 1_000_000_000,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue {
                value: Some(any_value::Value::StringValue("User logged in".into())),
            }),
            attributes: vec![
                text("user.id", ((h >> 24) % 5_000).to_string()),
                text("http.route", route),
                text("request.id", format!("{prefix}-{sequence}-{index}")),
            ],
            ..Default::default()
        });
    }
    let resource_logs = by_service
        .into_iter()
        .zip(SERVICES)
        .filter(|(records, _)| !records.is_empty())
        .map(|(log_records, service)| ResourceLogs {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
            }),
            scope_logs: vec![ScopeLogs {
                scope: None,
                log_records,
            }],
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

/// The bounds of the latency histograms (milliseconds), as HTTP instrumentations use.
const LATENCY_BOUNDS: [f64; 14] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// An `ExportMetricsServiceRequest` of `batch_size` data points, one resource per service:
/// half of them monotonic cumulative sums (`http.server.requests`), half explicit-bucket
/// histograms (`http.server.duration`). Every point carries a `request.id` unique to
/// (prefix, sequence, index), so every point of every request is new to the service.
pub fn metrics_body(prefix: &str, sequence: u64, batch_size: usize, now_nanos: u64) -> Vec<u8> {
    let mut sums: Vec<Vec<NumberDataPoint>> = vec![Vec::new(); SERVICES.len()];
    let mut histograms: Vec<Vec<HistogramDataPoint>> = vec![Vec::new(); SERVICES.len()];
    for index in 0..batch_size as u64 {
        let h = mix(sequence << 24 ^ index);
        let service = (h >> 8) as usize % SERVICES.len();
        let attributes = vec![
            text("http.route", ROUTES[(h >> 16) as usize % ROUTES.len()]),
            text("request.id", format!("{prefix}-{sequence}-{index}")),
        ];
        let time_unix_nano = now_nanos - h % 1_000_000_000;
        let start_time_unix_nano = now_nanos - 60_000_000_000;
        if index % 2 == 0 {
            sums[service].push(NumberDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano,
                value: Some(number_data_point::Value::AsInt((h % 10_000) as i64)),
                flags: 0,
            });
        } else {
            let buckets = LATENCY_BOUNDS.len() + 1;
            let mut bucket_counts = vec![0u64; buckets];
            let samples = 1 + h % 20;
            for sample in 0..samples {
                bucket_counts[(mix(h ^ sample) % buckets as u64) as usize] += 1;
            }
            histograms[service].push(HistogramDataPoint {
                attributes,
                start_time_unix_nano,
                time_unix_nano,
                count: samples,
                sum: Some(samples as f64 * 120.0),
                bucket_counts,
                explicit_bounds: LATENCY_BOUNDS.to_vec(),
                min: Some(1.0),
                max: Some(4_000.0),
                flags: 0,
            });
        }
    }
    let resource_metrics = sums
        .into_iter()
        .zip(histograms)
        .zip(SERVICES)
        .filter(|((sums, histograms), _)| !sums.is_empty() || !histograms.is_empty())
        .map(|((sums, histograms), service)| ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![text("service.name", service)],
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: None,
                metrics: vec![
                    Metric {
                        name: "http.server.requests".into(),
                        unit: "1".into(),
                        data: Some(metric::Data::Sum(Sum {
                            data_points: sums,
                            aggregation_temporality: 2,
                            is_monotonic: true,
                        })),
                    },
                    Metric {
                        name: "http.server.duration".into(),
                        unit: "ms".into(),
                        data: Some(metric::Data::Histogram(Histogram {
                            data_points: histograms,
                            aggregation_temporality: 2,
                        })),
                    },
                ],
            }],
        })
        .collect();
    ExportMetricsServiceRequest { resource_metrics }.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_hold_the_batch_and_differ_by_sequence() {
        let first =
            ExportLogsServiceRequest::decode(&logs_body("run", 1, 50, 1 << 62)[..]).unwrap();
        let records: usize = first
            .resource_logs
            .iter()
            .map(|r| r.scope_logs[0].log_records.len())
            .sum();
        assert_eq!(records, 50);
        assert_ne!(
            logs_body("run", 1, 50, 1 << 62),
            logs_body("run", 2, 50, 1 << 62)
        );
    }

    #[test]
    fn metric_requests_hold_the_batch_half_histograms() {
        let request =
            ExportMetricsServiceRequest::decode(&metrics_body("run", 1, 100, 1 << 62)[..]).unwrap();
        let (mut points, mut histograms) = (0, 0);
        for metric in request
            .resource_metrics
            .iter()
            .flat_map(|resource| &resource.scope_metrics[0].metrics)
        {
            match &metric.data {
                Some(metric::Data::Sum(sum)) => points += sum.data_points.len(),
                Some(metric::Data::Histogram(histogram)) => {
                    points += histogram.data_points.len();
                    histograms += histogram.data_points.len();
                }
                _ => panic!("unexpected metric {metric:?}"),
            }
        }
        assert_eq!((points, histograms), (100, 50));
    }
}

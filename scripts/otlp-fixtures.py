#!/usr/bin/env python3
"""Regenerates tests/fixtures/otlp/: OTLP export requests encoded by the OpenTelemetry
project's own protobuf bindings, so the service's decoders are checked against the official
schema rather than against themselves.

Only needed when the fixtures change:
    python3 -m venv /tmp/otlp && /tmp/otlp/bin/pip install opentelemetry-proto
    /tmp/otlp/bin/python scripts/otlp-fixtures.py

Each request is written twice: binary protobuf (`*.pb`) and OTLP/JSON (`*.json`: the
protobuf JSON mapping with the OTLP rules: trace and span ids as hex, enums as integers).
"""

import base64
import json
import pathlib

from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
    KeyValueList,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1 import trace_pb2 as t

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "otlp"
# 2026-01-21T12:00:00Z in nanoseconds.
T0 = 1_768_996_800 * 1_000_000_000
SECOND = 1_000_000_000
TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
SPAN_ID = bytes.fromhex("eee19b7ec3c1b174")
CHILD_ID = bytes.fromhex("eee19b7ec3c1b175")


def kv(key, **value):
    return KeyValue(key=key, value=AnyValue(**value))


def resource(service=None, **extra):
    attributes = [kv("host.name", string_value="node-1")]
    if service is not None:
        attributes.insert(0, kv("service.name", string_value=service))
    return Resource(attributes=attributes)


SCOPE = InstrumentationScope(name="checkout.instrumentation", version="1.2.0")


def logs():
    records = [
        LogRecord(
            time_unix_nano=T0,
            observed_time_unix_nano=T0 + 1_000,
            severity_number=9,
            severity_text="INFO",
            body=AnyValue(string_value="payment accepted"),
            attributes=[
                kv("user.id", string_value="u-42"),
                kv("http.status_code", int_value=200),
                kv("retry", bool_value=False),
            ],
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
        ),
        LogRecord(
            time_unix_nano=T0 + SECOND,
            severity_number=17,
            body=AnyValue(
                kvlist_value=KeyValueList(
                    values=[
                        kv("error", string_value="card declined"),
                        kv("codes", array_value=ArrayValue(values=[AnyValue(int_value=51)])),
                    ]
                )
            ),
            event_name="payment.failed",
        ),
        # No event time: the observed time is used.
        LogRecord(observed_time_unix_nano=T0 + 2 * SECOND, body=AnyValue(string_value="tick")),
        # Fifty years ahead: rejected as a partial success.
        LogRecord(time_unix_nano=T0 + 50 * 365 * 86_400 * SECOND, body=AnyValue(string_value="late")),
    ]
    return ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=resource("checkout"),
                scope_logs=[ScopeLogs(scope=SCOPE, log_records=records)],
            ),
            ResourceLogs(
                resource=resource(None),
                scope_logs=[
                    ScopeLogs(
                        log_records=[
                            LogRecord(time_unix_nano=T0, body=AnyValue(string_value="no service"))
                        ]
                    )
                ],
            ),
        ]
    )


def metrics():
    cumulative = m.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    metric_list = [
        m.Metric(
            name="system.cpu.utilization",
            unit="1",
            gauge=m.Gauge(
                data_points=[
                    m.NumberDataPoint(
                        time_unix_nano=T0,
                        as_double=0.42,
                        attributes=[kv("cpu", int_value=0)],
                    ),
                    # Not a finite number: rejected as a partial success.
                    m.NumberDataPoint(time_unix_nano=T0, as_double=float("nan")),
                ]
            ),
        ),
        m.Metric(
            name="http.server.requests",
            unit="{request}",
            sum=m.Sum(
                aggregation_temporality=cumulative,
                is_monotonic=True,
                data_points=[
                    m.NumberDataPoint(
                        start_time_unix_nano=T0 - 60 * SECOND,
                        time_unix_nano=T0,
                        as_int=7,
                        attributes=[kv("http.route", string_value="/pay")],
                    )
                ],
            ),
        ),
        m.Metric(
            name="http.server.duration",
            unit="ms",
            histogram=m.Histogram(
                aggregation_temporality=cumulative,
                data_points=[
                    m.HistogramDataPoint(
                        time_unix_nano=T0,
                        count=4,
                        sum=100.5,
                        bucket_counts=[1, 2, 1],
                        explicit_bounds=[10.0, 50.0],
                        min=3.0,
                        max=60.0,
                    )
                ],
            ),
        ),
        m.Metric(
            name="rpc.latency",
            unit="ms",
            summary=m.Summary(
                data_points=[
                    m.SummaryDataPoint(
                        time_unix_nano=T0,
                        count=10,
                        sum=55.0,
                        quantile_values=[
                            m.SummaryDataPoint.ValueAtQuantile(quantile=0.5, value=4.0),
                            m.SummaryDataPoint.ValueAtQuantile(quantile=0.99, value=9.0),
                        ],
                    )
                ]
            ),
        ),
        m.Metric(
            name="queue.wait",
            unit="ms",
            exponential_histogram=m.ExponentialHistogram(
                aggregation_temporality=m.AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA,
                data_points=[
                    m.ExponentialHistogramDataPoint(
                        start_time_unix_nano=T0 - 60 * SECOND,
                        time_unix_nano=T0,
                        count=3,
                        sum=12.0,
                        scale=1,
                        positive=m.ExponentialHistogramDataPoint.Buckets(
                            offset=2, bucket_counts=[1, 2]
                        ),
                        min=2.0,
                        max=6.0,
                    )
                ],
            ),
        ),
    ]
    return ExportMetricsServiceRequest(
        resource_metrics=[
            m.ResourceMetrics(
                resource=resource("checkout"),
                scope_metrics=[m.ScopeMetrics(scope=SCOPE, metrics=metric_list)],
            )
        ]
    )


def traces():
    spans = [
        t.Span(
            trace_id=TRACE_ID,
            span_id=SPAN_ID,
            name="POST /pay",
            kind=t.Span.SpanKind.SPAN_KIND_SERVER,
            start_time_unix_nano=T0,
            end_time_unix_nano=T0 + 250_000_000,
            attributes=[kv("enduser.id", string_value="u-42"), kv("http.route", string_value="/pay")],
            events=[
                t.Span.Event(
                    time_unix_nano=T0 + 200_000_000,
                    name="exception",
                    attributes=[kv("exception.message", string_value="card declined")],
                )
            ],
            status=t.Status(code=t.Status.StatusCode.STATUS_CODE_ERROR, message="declined"),
        ),
        t.Span(
            trace_id=TRACE_ID,
            span_id=CHILD_ID,
            parent_span_id=SPAN_ID,
            name="SELECT orders",
            kind=t.Span.SpanKind.SPAN_KIND_CLIENT,
            start_time_unix_nano=T0 + 10_000_000,
            end_time_unix_nano=T0 + 22_500_000,
        ),
        # No trace id: rejected as a partial success.
        t.Span(span_id=SPAN_ID, name="orphan", start_time_unix_nano=T0),
    ]
    return ExportTraceServiceRequest(
        resource_spans=[
            t.ResourceSpans(
                resource=resource("checkout"),
                scope_spans=[t.ScopeSpans(scope=SCOPE, spans=spans)],
            )
        ]
    )


HEX_FIELDS = {"traceId", "spanId", "parentSpanId"}


def otlp_json(message):
    """The protobuf JSON mapping, adjusted to OTLP/JSON: ids as hex, enums as integers."""

    def fix(node):
        if isinstance(node, dict):
            return {
                key: base64.b64decode(value).hex() if key in HEX_FIELDS else fix(value)
                for key, value in node.items()
            }
        if isinstance(node, list):
            return [fix(item) for item in node]
        return node

    return fix(MessageToDict(message, use_integers_for_enums=True))


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, request in [("logs", logs()), ("metrics", metrics()), ("traces", traces())]:
        (OUT / f"{name}.pb").write_bytes(request.SerializeToString())
        text = json.dumps(otlp_json(request), indent=1, sort_keys=True)
        (OUT / f"{name}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()

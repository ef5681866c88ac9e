"""One OTLP/gRPC Export call with grpcio, for the black-box tests (tests/api/otlp_grpc.rs).

Builds an export with the OpenTelemetry project's own protobuf classes (opentelemetry-proto),
sends it with the given metadata, and prints one JSON line: the gRPC code's name, the
message, the `ErrorInfo.reason` and `RetryInfo` delay from `grpc-status-details-bin`, and on
success the partial success it answered and whether it was a replay (`idempotent-replayed`).

    python grpc_call.py ADDRESS SIGNAL CASE [--key KEY] [--bearer TOKEN] [--gzip]
        [--records N] [--bad-records N] [--prefix P] [--idempotency-key K]
        [--oversize-bytes N] [--time-unix-nano T]
"""

import argparse
import json
import time

import grpc
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.logs.v1 import logs_pb2
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.resource.v1 import resource_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

METHODS = {
    "logs": (
        "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        logs_service_pb2.ExportLogsServiceResponse,
    ),
    "metrics": (
        "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
        metrics_service_pb2.ExportMetricsServiceResponse,
    ),
    "traces": (
        "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        trace_service_pb2.ExportTraceServiceResponse,
    ),
}


def resource():
    return resource_pb2.Resource(
        attributes=[
            common_pb2.KeyValue(
                key="service.name", value=common_pb2.AnyValue(string_value="grpc-producer")
            )
        ]
    )


def export(signal, records, bad_records, prefix, now):
    if signal == "logs":
        logs = [
            logs_pb2.LogRecord(
                time_unix_nano=now - index,
                body=common_pb2.AnyValue(string_value=f"{prefix} log {index}"),
            )
            for index in range(records)
        ]
        # A record without a time cannot become an event.
        logs += [logs_pb2.LogRecord(body=common_pb2.AnyValue(string_value="no time"))] * bad_records
        return logs_service_pb2.ExportLogsServiceRequest(
            resource_logs=[
                logs_pb2.ResourceLogs(
                    resource=resource(), scope_logs=[logs_pb2.ScopeLogs(log_records=logs)]
                )
            ]
        )
    if signal == "metrics":
        points = [
            metrics_pb2.NumberDataPoint(time_unix_nano=now - index, as_double=float(index))
            for index in range(records)
        ]
        # A data point without a time cannot become an event.
        points += [metrics_pb2.NumberDataPoint(as_double=1.0)] * bad_records
        metric = metrics_pb2.Metric(
            name=f"{prefix}.gauge", gauge=metrics_pb2.Gauge(data_points=points)
        )
        return metrics_service_pb2.ExportMetricsServiceRequest(
            resource_metrics=[
                metrics_pb2.ResourceMetrics(
                    resource=resource(),
                    scope_metrics=[metrics_pb2.ScopeMetrics(metrics=[metric])],
                )
            ]
        )
    spans = [
        trace_pb2.Span(
            trace_id=(index + 1).to_bytes(16, "big"),
            span_id=(index + 1).to_bytes(8, "big"),
            name=f"{prefix} span {index}",
            start_time_unix_nano=now - 1_000_000,
            end_time_unix_nano=now,
        )
        for index in range(records)
    ]
    # A span without ids cannot become an event.
    spans += [trace_pb2.Span(name="no ids", start_time_unix_nano=now, end_time_unix_nano=now)] * bad_records
    return trace_service_pb2.ExportTraceServiceRequest(
        resource_spans=[
            trace_pb2.ResourceSpans(resource=resource(), scope_spans=[trace_pb2.ScopeSpans(spans=spans)])
        ]
    )


def details(error):
    reason, retry_delay = None, None
    for key, value in error.trailing_metadata() or ():
        if key != "grpc-status-details-bin":
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
                info = error_details_pb2.RetryInfo()
                detail.Unpack(info)
                retry_delay = info.retry_delay.seconds + info.retry_delay.nanos / 1e9
    return reason, retry_delay


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("signal", choices=sorted(METHODS))
    parser.add_argument("case", choices=["export", "garbage", "oversize"])
    parser.add_argument("--key")
    parser.add_argument("--bearer")
    parser.add_argument("--gzip", action="store_true")
    parser.add_argument("--records", type=int, default=3)
    parser.add_argument("--bad-records", type=int, default=0)
    parser.add_argument("--prefix", default="grpc")
    parser.add_argument("--idempotency-key")
    parser.add_argument("--oversize-bytes", type=int, default=0)
    parser.add_argument("--time-unix-nano", type=int, help="the records' time (default: now)")
    arguments = parser.parse_args()

    method, response_type = METHODS[arguments.signal]
    if arguments.case == "export":
        now = arguments.time_unix_nano or time.time_ns()
        request = export(arguments.signal, arguments.records, arguments.bad_records, arguments.prefix, now)
        body = request.SerializeToString()
    elif arguments.case == "garbage":
        body = b"\xff\xff\xff\xff not protobuf"
    else:
        body = b"\x00" * arguments.oversize_bytes
    metadata = []
    if arguments.key is not None:
        metadata.append(("x-api-key", arguments.key))
    if arguments.bearer is not None:
        metadata.append(("authorization", f"Bearer {arguments.bearer}"))
    if arguments.idempotency_key is not None:
        metadata.append(("idempotency-key", arguments.idempotency_key))
    options = [("grpc.max_send_message_length", 64 * 1024 * 1024)]
    with grpc.insecure_channel(arguments.address, options=options) as channel:
        call = channel.unary_unary(method)
        compression = grpc.Compression.Gzip if arguments.gzip else grpc.Compression.NoCompression
        try:
            answer, outcome = call.with_call(body, metadata=metadata, compression=compression, timeout=60)
        except grpc.RpcError as error:
            reason, retry_delay = details(error)
            print(json.dumps({
                "code": error.code().name,
                "message": error.details(),
                "reason": reason,
                "retryDelay": retry_delay,
            }))
            return
    response = response_type.FromString(answer)
    partial = response.partial_success
    rejected = (
        getattr(partial, "rejected_log_records", 0)
        + getattr(partial, "rejected_data_points", 0)
        + getattr(partial, "rejected_spans", 0)
    )
    replayed = dict(outcome.initial_metadata() or ()).get("idempotent-replayed") == "true"
    print(json.dumps({
        "code": "OK",
        "rejected": rejected,
        "errorMessage": partial.error_message,
        "replayed": replayed,
    }))


if __name__ == "__main__":
    main()

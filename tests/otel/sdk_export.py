"""A producer as users run one: the OpenTelemetry Python SDK with its OTLP exporters, default
settings, exporting logs, spans and metrics to the service, for the black-box tests
(tests/api/otlp_grpc.rs).

    python sdk_export.py PROTOCOL ENDPOINT KEY SERVICE [--logs N] [--spans N] [--gauge V ...]

PROTOCOL is `grpc` (ENDPOINT like http://127.0.0.1:4317) or `http/protobuf` (ENDPOINT like
http://127.0.0.1:8080). Prints one JSON line: whether every export succeeded.
"""

import argparse
import json
import logging

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor


def exporters(protocol, endpoint, key):
    headers = {"x-api-key": key}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        arguments = {"endpoint": endpoint, "insecure": True, "headers": headers}
        return OTLPLogExporter(**arguments), OTLPSpanExporter(**arguments), OTLPMetricExporter(**arguments)
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return (
        OTLPLogExporter(endpoint=f"{endpoint}/v1/logs", headers=headers),
        OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces", headers=headers),
        OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", headers=headers),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("protocol", choices=["grpc", "http/protobuf"])
    parser.add_argument("endpoint")
    parser.add_argument("key")
    parser.add_argument("service")
    parser.add_argument("--logs", type=int, default=0)
    parser.add_argument("--spans", type=int, default=0)
    parser.add_argument("--gauge", type=float, nargs="*", default=[])
    arguments = parser.parse_args()

    resource = Resource.create({"service.name": arguments.service})
    log_exporter, span_exporter, metric_exporter = exporters(
        arguments.protocol, arguments.endpoint, arguments.key
    )
    ok = True

    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(log_exporter))
    logger = logging.getLogger(f"sdk-export-{arguments.service}")
    logger.propagate = False
    logger.addHandler(LoggingHandler(logger_provider=logger_provider))
    logger.setLevel(logging.INFO)
    for index in range(arguments.logs):
        logger.info("sdk log %d", index)
    ok &= logger_provider.force_flush()
    logger_provider.shutdown()

    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    tracer = tracer_provider.get_tracer("sdk-export")
    for index in range(arguments.spans):
        with tracer.start_as_current_span(f"sdk span {index}"):
            pass
    ok &= tracer_provider.force_flush()
    tracer_provider.shutdown()

    if arguments.gauge:
        reader = PeriodicExportingMetricReader(metric_exporter, export_interval_millis=3_600_000)
        meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        gauge = meter_provider.get_meter("sdk-export").create_gauge("sdk.gauge", unit="1")
        for value in arguments.gauge:
            gauge.set(value)
            ok &= meter_provider.force_flush()
        meter_provider.shutdown()

    print(json.dumps({"ok": bool(ok)}))


if __name__ == "__main__":
    main()

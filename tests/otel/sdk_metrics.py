"""Metrics as the OpenTelemetry Python SDK exports them, for the black-box tests of metric
kinds (tests/api/metric_kinds.rs): a counter, a histogram, an up-down counter and a gauge,
exported several times by one producer, which then restarts (a new start time: a counter
reset) and exports some more.

    python sdk_metrics.py PROTOCOL ENDPOINT KEY SERVICE TEMPORALITY \
        --increments 3,4,5 --after-restart 6,2 --observations 3,7,40,...

PROTOCOL is `grpc` or `http/protobuf`; TEMPORALITY `cumulative` (the SDK default) or
`delta`. The counter `orders` gets each number of `--increments` added one at a time, one
export after each group; the producer restarts, and `--after-restart` does the same. The
histogram `http.server.duration` (ms, the SDK's default buckets) records `--observations`
spread over the exports before the restart (`--pause` seconds after each export); with
`--exponential`, as an exponential histogram (the SDK's `ExponentialBucketHistogramAggregation`).
`queue.depth` (up-down counter) gets +5, then -2;
the gauge `temperature` is set to 20, then 22. Prints one JSON line: whether every export
succeeded, and how many times the exporter retried one.
"""

import argparse
import json
import logging
import time

from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics.export import AggregationTemporality, PeriodicExportingMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource


def exporter(protocol, endpoint, key, temporality):
    headers = {"x-api-key": key}
    preferred = None
    if temporality == "delta":
        delta = AggregationTemporality.DELTA
        preferred = {Counter: delta, Histogram: delta, ObservableCounter: delta,
                     UpDownCounter: AggregationTemporality.CUMULATIVE,
                     ObservableUpDownCounter: AggregationTemporality.CUMULATIVE}
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter(endpoint=endpoint, insecure=True, headers=headers,
                                  preferred_temporality=preferred)
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

    return OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics", headers=headers,
                              preferred_temporality=preferred)


def numbers(text, kind=int):
    return [kind(part) for part in text.split(",") if part]


def producer(arguments):
    """One run of the producer: a meter provider with its own start time."""
    reader = PeriodicExportingMetricReader(
        exporter(arguments.protocol, arguments.endpoint, arguments.key, arguments.temporality),
        export_interval_millis=3_600_000,
    )
    resource = Resource.create({"service.name": arguments.service})
    views = []
    if arguments.exponential:
        views.append(View(instrument_name="http.server.duration",
                          aggregation=ExponentialBucketHistogramAggregation()))
    provider = MeterProvider(resource=resource, metric_readers=[reader], views=views)
    return provider, provider.get_meter("sdk-metrics")


class Retries(logging.Handler):
    """Counts the exporter's "retrying" warnings: exports that failed and were sent again."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record):
        if "retrying" in record.getMessage():
            self.count += 1


def main():
    retries = Retries()
    logging.getLogger("opentelemetry").addHandler(retries)
    parser = argparse.ArgumentParser()
    parser.add_argument("protocol", choices=["grpc", "http/protobuf"])
    parser.add_argument("endpoint")
    parser.add_argument("key")
    parser.add_argument("service")
    parser.add_argument("temporality", choices=["cumulative", "delta"])
    parser.add_argument("--increments", default="")
    parser.add_argument("--after-restart", default="")
    parser.add_argument("--observations", default="")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds to wait after each export")
    parser.add_argument("--exponential", action="store_true",
                        help="the histogram as an exponential histogram (the SDK's view)")
    arguments = parser.parse_args()
    ok = True

    provider, meter = producer(arguments)
    orders = meter.create_counter("orders", unit="1")
    duration = meter.create_histogram("http.server.duration", unit="ms")
    depth = meter.create_up_down_counter("queue.depth")
    temperature = meter.create_gauge("temperature", unit="Cel")
    groups = numbers(arguments.increments)
    observations = numbers(arguments.observations, float)
    for index, group in enumerate(groups):
        for _ in range(group):
            orders.add(1, {"shop": "north"})
        share = observations[index::len(groups)] if groups else []
        for value in share:
            duration.record(value, {"route": "/orders"})
        if index == 0:
            depth.add(5)
            temperature.set(20)
        else:
            depth.add(-2 if index == 1 else 0)
            temperature.set(22)
        ok &= provider.force_flush()
        time.sleep(arguments.pause)
    provider.shutdown()

    # The producer restarts: the same series, from a new start time.
    provider, meter = producer(arguments)
    orders = meter.create_counter("orders", unit="1")
    for group in numbers(arguments.after_restart):
        for _ in range(group):
            orders.add(1, {"shop": "north"})
        ok &= provider.force_flush()
    provider.shutdown()

    print(json.dumps({"ok": bool(ok), "retries": retries.count}))


if __name__ == "__main__":
    main()

// What an empty page says: how to send the first events, with this server's address and a
// placeholder for the key (never the signed-in secret).
import { CopyButton } from './CopyButton.tsx';

const EXAMPLES = {
  log: '"eventType":"log","serviceName":"api-gateway","payload":{"level":"info","message":"hello"}',
  metric: '"eventType":"metric","serviceName":"api-gateway","payload":{"name":"latency","value":120}',
};

interface GettingStartedProps {
  title?: string;
  /** Which kind of event the example sends. */
  example?: keyof typeof EXAMPLES;
}

export function GettingStarted({ title = 'No events yet', example = 'log' }: GettingStartedProps) {
  const origin = window.location.origin;
  const curl =
    `curl -X POST ${origin}/ingest \\\n` +
    `  -H "X-API-Key: $TELEMETRY_API_KEY" -H 'Content-Type: application/json' \\\n` +
    `  -d '{"eventId":"evt_1",${EXAMPLES[example]},` +
    `"timestamp":"'"$(date -u +%Y-%m-%dT%H:%M:%SZ)"'"}'`;
  const otlp =
    `export OTEL_EXPORTER_OTLP_ENDPOINT=${origin}\n` + `export OTEL_EXPORTER_OTLP_HEADERS=X-API-Key=$TELEMETRY_API_KEY`;
  return (
    <section class="getting-started" aria-labelledby="getting-started-title">
      <h2 id="getting-started-title">{title}</h2>
      <p>
        Send the first events with an API key of this tenant (set it as <code>TELEMETRY_API_KEY</code>):
      </p>
      <div class="snippet">
        <pre>{curl}</pre>
        <CopyButton text={curl} label="Copy command" />
      </div>
      <p>Or point an OpenTelemetry SDK or Collector at this service (OTLP/HTTP):</p>
      <div class="snippet">
        <pre>{otlp}</pre>
        <CopyButton text={otlp} label="Copy variables" />
      </div>
    </section>
  );
}

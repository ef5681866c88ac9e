// Figures for `make bench-ui` (scripts/bench-ui.sh): how fast the console shows a person
// their numbers, how fast the live tail shows an accepted event, and live streams held open
// while ingestion is measured. It measures; it asserts nothing. Each mode prints one line
// `RESULT {json}`.
//
//   node console-bench.mjs first-load   cold and warm loads of the overview
//   node console-bench.mjs live-latency from the 202 of a probe event to its row on screen
//   node console-bench.mjs tails N      N live streams read until SIGTERM
//
// Environment: BASE_URL, API_KEY (the tenant's key), CHROMIUM_PATH, RUNS, DURATION_SECONDS.
import { chromium } from '@playwright/test';

const baseUrl = process.env.BASE_URL ?? 'http://127.0.0.1:8080';
const apiKey = process.env.API_KEY ?? '';
const runs = Number(process.env.RUNS ?? 5);
const durationSeconds = Number(process.env.DURATION_SECONDS ?? 30);
const [mode, argument] = process.argv.slice(2);

const launch = () =>
  chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });

/** A browser context signed in with the API key (as the sign-in page leaves it). */
async function signedIn(browser) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.addInitScript((secret) => {
    sessionStorage.setItem('telemetry-console.credential', JSON.stringify({ kind: 'api_key', secret }));
  }, apiKey);
  return context;
}

function quantile(sorted, q) {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

function describe(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return { n: sorted.length, p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), max: sorted.at(-1) ?? null };
}

/** Milliseconds from the start of navigation to the overview's total on screen. */
async function overviewLoad(page) {
  await page.goto(`${baseUrl}/ui/?window=24h`);
  await page.locator('[data-testid="total-events"]').waitFor({ timeout: 60_000 });
  return page.evaluate(() => {
    const shown = performance.getEntriesByName('total-events-shown');
    return shown.length > 0 ? shown[0].startTime : performance.now();
  });
}

/** Marks the moment the overview's total first appears (a MutationObserver, not polling). */
function markTotalShown() {
  const observer = new MutationObserver(() => {
    if (document.querySelector('[data-testid="total-events"]') !== null) {
      performance.mark('total-events-shown');
      observer.disconnect();
    }
  });
  observer.observe(document, { childList: true, subtree: true });
}

async function firstLoad() {
  const browser = await launch();
  const cold = [];
  const warm = [];
  for (let run = 0; run < runs; run += 1) {
    // Cold: a new context has no cached assets (the server's caches may be warm after the
    // first run: the first cold figure is printed on its own).
    const context = await signedIn(browser);
    await context.addInitScript(markTotalShown);
    const page = await context.newPage();
    cold.push(await overviewLoad(page));
    // Warm: the same tab loads the console again with its assets cached.
    warm.push(await overviewLoad(page));
    await context.close();
  }
  await browser.close();
  return { first_cold_ms: cold[0], cold_ms: describe(cold), warm_ms: describe(warm) };
}

async function ingest(events) {
  const response = await fetch(`${baseUrl}/ingest`, {
    method: 'POST',
    headers: { 'X-API-Key': apiKey, 'Content-Type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (response.status !== 202) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
}

async function liveLatency() {
  const browser = await launch();
  const context = await signedIn(browser);
  // Each row's first appearance, by event id, on this machine's clock (the probe's too).
  await context.addInitScript(() => {
    window.shownAt = {};
    const observer = new MutationObserver((mutations) => {
      const now = Date.now();
      for (const mutation of mutations) {
        for (const node of mutation.addedNodes) {
          if (!(node instanceof Element)) continue;
          const rows = node.matches('[data-event-id]') ? [node] : node.querySelectorAll('[data-event-id]');
          for (const row of rows) {
            const id = row.getAttribute('data-event-id');
            if (id !== null && !(id in window.shownAt)) window.shownAt[id] = now;
          }
        }
      }
    });
    observer.observe(document, { childList: true, subtree: true });
  });
  const page = await context.newPage();
  await page.goto(`${baseUrl}/ui/explorer?service=probe`);
  await page.getByRole('switch', { name: /live tail/i }).click();
  await page.locator('.live-state-on').waitFor({ timeout: 30_000 });
  const acknowledged = {};
  const run = Date.now();
  const deadline = run + durationSeconds * 1000;
  for (let probe = 0; Date.now() < deadline; probe += 1) {
    const eventId = `probe-${run}-${probe}`;
    await ingest([
      { eventId, eventType: 'log', serviceName: 'probe', timestamp: new Date().toISOString(), payload: { probe } },
    ]);
    acknowledged[eventId] = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const shown = await page.evaluate(() => window.shownAt);
  await browser.close();
  const latencies = Object.entries(acknowledged)
    .filter(([id]) => id in shown)
    .map(([id, at]) => shown[id] - at);
  return {
    probes: Object.keys(acknowledged).length,
    shown: latencies.length,
    latency_ms: describe(latencies),
  };
}

/** N streams of every event of the tenant, read and thrown away until SIGTERM. */
async function tails(count) {
  const controller = new AbortController();
  const totals = { streams: count, bytes: 0, events: 0, dropped_frames: 0 };
  // Counted in the bytes as they come, without decoding them: the client's own cost is
  // kept small, since it shares the machine with the service it measures.
  const eventFrame = Buffer.from('event: event\n');
  const droppedFrame = Buffer.from('event: dropped\n');
  const occurrences = (chunk, needle) => {
    let found = 0;
    for (let at = chunk.indexOf(needle); at !== -1; at = chunk.indexOf(needle, at + needle.length)) found += 1;
    return found;
  };
  const streams = Array.from({ length: count }, async () => {
    const response = await fetch(`${baseUrl}/live/events`, {
      headers: { 'X-API-Key': apiKey, Accept: 'text/event-stream' },
      signal: controller.signal,
    });
    if (response.status !== 200) throw new Error(`live stream answered ${response.status}`);
    try {
      for await (const chunk of response.body) {
        const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        totals.bytes += bytes.length;
        totals.events += occurrences(bytes, eventFrame);
        totals.dropped_frames += occurrences(bytes, droppedFrame);
      }
    } catch (error) {
      if (!controller.signal.aborted) throw error;
    }
  });
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  controller.abort();
  await Promise.allSettled(streams);
  return totals;
}

const result =
  mode === 'first-load'
    ? await firstLoad()
    : mode === 'live-latency'
      ? await liveLatency()
      : mode === 'tails'
        ? await tails(Number(argument ?? 20))
        : null;
if (result === null) {
  console.error('usage: console-bench.mjs first-load | live-latency | tails N');
  process.exit(2);
}
console.log(`RESULT ${JSON.stringify(result)}`);

// Time ranges as the pages offer and share them, and the bucket arithmetic of the charts.
// Pure: no DOM, so node's test runner checks it directly.

export type Step = '1m' | '1h' | '1d';

const STEP_MS: Record<Step, number> = { '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export interface RangePreset {
  id: string;
  label: string;
  milliseconds: number;
}

export const RANGE_PRESETS: readonly RangePreset[] = [
  { id: '15m', label: 'Last 15 minutes', milliseconds: 15 * MINUTE },
  { id: '1h', label: 'Last hour', milliseconds: HOUR },
  { id: '6h', label: 'Last 6 hours', milliseconds: 6 * HOUR },
  { id: '24h', label: 'Last 24 hours', milliseconds: DAY },
  { id: '7d', label: 'Last 7 days', milliseconds: 7 * DAY },
];

/** A range as a person picks it: relative to now (`preset`) or between two instants. */
export type TimeRange = { kind: 'preset'; preset: RangePreset } | { kind: 'custom'; from: Date; to: Date };

export function presetById(id: string | null, allowed: readonly RangePreset[] = RANGE_PRESETS): RangePreset | null {
  return allowed.find((preset) => preset.id === id) ?? null;
}

/** Reads `range=1h`, or `from=` and `to=` (RFC 3339), from a query string. */
export function rangeFromSearch(
  search: URLSearchParams,
  fallback: RangePreset,
  allowed: readonly RangePreset[] = RANGE_PRESETS,
): TimeRange {
  const from = parseInstant(search.get('from'));
  const to = parseInstant(search.get('to'));
  if (from !== null && to !== null && from < to) return { kind: 'custom', from, to };
  return { kind: 'preset', preset: presetById(search.get('range'), allowed) ?? fallback };
}

/** The query parameters that describe a range (null removes a parameter). */
export function rangeToSearch(range: TimeRange): Record<string, string | null> {
  return range.kind === 'preset'
    ? { range: range.preset.id, from: null, to: null }
    : { range: null, from: range.from.toISOString(), to: range.to.toISOString() };
}

/** The instants a range covers at `now`: `from` inclusive, `to` exclusive. */
export function resolveRange(range: TimeRange, now: Date): { from: Date; to: Date } {
  if (range.kind === 'custom') return { from: range.from, to: range.to };
  return { from: new Date(now.getTime() - range.preset.milliseconds), to: now };
}

/** The step the service picks for a range when none is given: minutes up to 6 h, hours up to 14 days. */
export function stepFor(from: Date, to: Date): Step {
  const span = to.getTime() - from.getTime();
  if (span <= 6 * HOUR) return '1m';
  if (span <= 14 * DAY) return '1h';
  return '1d';
}

export function isStep(value: string): value is Step {
  return value === '1m' || value === '1h' || value === '1d';
}

/** The start of every bucket of `step` that overlaps [from, to), in epoch milliseconds. */
export function bucketStarts(from: Date, to: Date, step: Step): number[] {
  const size = STEP_MS[step];
  const starts: number[] = [];
  for (let start = Math.floor(from.getTime() / size) * size; start < to.getTime(); start += size) {
    starts.push(start);
  }
  return starts;
}

/**
 * Lines points (which exist only for buckets with data) up with every bucket of the range:
 * `missing` stands in for the others (0 for counts, null to leave a gap in a line).
 */
export function alignToBuckets<Point, Value>(
  starts: readonly number[],
  points: readonly Point[],
  timeOf: (point: Point) => string,
  valueOf: (point: Point) => Value,
  missing: Value,
): Value[] {
  const byStart = new Map<number, Value>();
  for (const point of points) byStart.set(Date.parse(timeOf(point)), valueOf(point));
  return starts.map((start) => (byStart.has(start) ? (byStart.get(start) as Value) : missing));
}

function parseInstant(text: string | null): Date | null {
  if (text === null || text === '') return null;
  const milliseconds = Date.parse(text);
  return Number.isNaN(milliseconds) ? null : new Date(milliseconds);
}

/** `YYYY-MM-DDTHH:mm` in local time, the value of an `<input type="datetime-local">`. */
export function toLocalInputValue(date: Date): string {
  const pad = (value: number): string => String(value).padStart(2, '0');
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

export function fromLocalInputValue(value: string): Date | null {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(value)) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

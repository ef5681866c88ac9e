// Time ranges, steps and bucket alignment.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alignToBuckets,
  bucketStarts,
  presetById,
  rangeFromSearch,
  rangeToSearch,
  resolveRange,
  stepFor,
} from '../src/lib/time.ts';

const HOUR = 3_600_000;
const at = (text: string): Date => new Date(text);

test('the step follows the service: minutes up to 6 h, hours up to 14 days, then days', () => {
  const from = at('2026-12-01T00:00:00Z');
  assert.equal(stepFor(from, new Date(from.getTime() + 6 * HOUR)), '1m');
  assert.equal(stepFor(from, new Date(from.getTime() + 6 * HOUR + 1)), '1h');
  assert.equal(stepFor(from, new Date(from.getTime() + 14 * 24 * HOUR)), '1h');
  assert.equal(stepFor(from, new Date(from.getTime() + 14 * 24 * HOUR + 1)), '1d');
});

test('buckets cover the range from the start of the first one', () => {
  const starts = bucketStarts(at('2026-12-07T10:00:30Z'), at('2026-12-07T10:03:00Z'), '1m');
  assert.deepEqual(
    starts.map((start) => new Date(start).toISOString()),
    ['2026-12-07T10:00:00.000Z', '2026-12-07T10:01:00.000Z', '2026-12-07T10:02:00.000Z'],
  );
});

test('points fill their buckets and the others get the stand-in', () => {
  const starts = bucketStarts(at('2026-12-07T10:00:00Z'), at('2026-12-07T10:04:00Z'), '1m');
  const points = [
    { t: '2026-12-07T10:01:00Z', n: 4 },
    { t: '2026-12-07T10:03:00Z', n: 2 },
  ];
  assert.deepEqual(
    alignToBuckets(
      starts,
      points,
      (point) => point.t,
      (point) => point.n,
      0,
    ),
    [0, 4, 0, 2],
  );
  assert.deepEqual(
    alignToBuckets(
      starts,
      points,
      (point) => point.t,
      (point) => point.n,
      null,
    ),
    [null, 4, null, 2],
  );
});

test('a range round-trips through the address', () => {
  const custom = { kind: 'custom' as const, from: at('2026-12-07T09:00:00Z'), to: at('2026-12-07T10:00:00Z') };
  const search = new URLSearchParams(rangeToSearch(custom) as Record<string, string>);
  assert.deepEqual(rangeFromSearch(search, presetById('1h')!), custom);

  const preset = { kind: 'preset' as const, preset: presetById('6h')! };
  assert.deepEqual(rangeFromSearch(new URLSearchParams('range=6h'), presetById('1h')!), preset);
});

test('nonsense in the address falls back to the default range', () => {
  const fallback = presetById('1h')!;
  for (const query of ['range=3w', 'from=yesterday&to=today', 'from=2026-12-07T10:00:00Z&to=2026-12-07T09:00:00Z']) {
    assert.deepEqual(rangeFromSearch(new URLSearchParams(query), fallback), { kind: 'preset', preset: fallback });
  }
});

test('a preset ends now', () => {
  const now = at('2026-12-07T10:00:00Z');
  const { from, to } = resolveRange({ kind: 'preset', preset: presetById('15m')! }, now);
  assert.equal(to, now);
  assert.equal(from.toISOString(), '2026-12-07T09:45:00.000Z');
});

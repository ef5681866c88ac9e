// The overview chart's stacking.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stackEvents } from '../src/pages/overview/event-series.ts';

test('events stack by type with empty minutes as zero', () => {
  const stacked = stackEvents(
    [{ t: '2026-12-07T10:01:00Z', total: 6, log: 3, metric: 2, trace: 1 }],
    new Date('2026-12-07T10:00:00Z'),
    new Date('2026-12-07T10:03:00Z'),
    '1m',
  );
  assert.deepEqual(stacked.xs, [1796637600, 1796637660, 1796637720]);
  assert.deepEqual(stacked.counts, [
    [0, 1, 0],
    [0, 2, 0],
    [0, 3, 0],
  ]);
  assert.deepEqual(stacked.tops, [
    [0, 6, 0],
    [0, 5, 0],
    [0, 3, 0],
  ]);
});

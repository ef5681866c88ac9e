// The explorer view as the address holds it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { viewFromSearch, viewToSearch } from '../src/pages/explorer/explorer-state.ts';

function queryOf(changes: Record<string, string | null>): string {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(changes)) if (value !== null) search.set(name, value);
  return search.toString();
}

test('every filter of the explorer survives the address', () => {
  const query = 'range=6h&type=log&service=checkout&user=u-7&group=user';
  const view = viewFromSearch(new URLSearchParams(query));
  assert.equal(view.eventType, 'log');
  assert.equal(view.serviceName, 'checkout');
  assert.equal(view.userId, 'u-7');
  assert.equal(view.groupBy, 'user');
  assert.equal(queryOf(viewToSearch(view)), query);
});

test('values the API would refuse are dropped', () => {
  const view = viewFromSearch(new URLSearchParams('type=span&group=host&service=%20'));
  assert.equal(view.eventType, null);
  assert.equal(view.groupBy, null);
  assert.equal(view.serviceName, null);
  assert.equal(queryOf(viewToSearch(view)), 'range=1h');
});

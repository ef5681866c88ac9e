// The alert rule form: what it sends, and where the server's problems show.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  conditionOf,
  EMPTY_RULE_FORM,
  fieldsOf,
  formFromRule,
  problemsByField,
  ruleFromForm,
} from '../src/pages/alerts/rule-form.ts';

test('a threshold rule goes out with numbers and without empty attributes', () => {
  const built = ruleFromForm({
    ...EMPTY_RULE_FORM,
    name: 'slow',
    metric: 'latency',
    threshold: '250.5',
    attributes: [
      { key: 'route', value: '/pay' },
      { key: ' ', value: 'ignored' },
    ],
    channels: [{ url: 'https://hooks.example.com/a', format: 'slack' }],
  });
  assert.ok('rule' in built);
  assert.equal(built.rule.threshold, 250.5);
  assert.deepEqual(built.rule.attributes, { route: '/pay' });
  assert.equal(built.rule.serviceName, null);
  assert.equal(conditionOf(built.rule), 'avg over 5m > 250.5');
});

test('an absence rule sends no threshold fields', () => {
  const built = ruleFromForm({ ...EMPTY_RULE_FORM, kind: 'absence', threshold: 'x', window: '10m' });
  assert.ok('rule' in built);
  assert.equal('aggregation' in built.rule, false);
  assert.equal(conditionOf(built.rule), 'no samples for 10m');
});

test('a threshold that is not a number is caught before sending', () => {
  const built = ruleFromForm({ ...EMPTY_RULE_FORM, threshold: 'lots' });
  assert.ok('problems' in built);
  assert.equal(built.problems[0]?.field, 'threshold');
});

test('server problems land on their fields; attribute problems on the attribute group', () => {
  const byField = problemsByField([
    { field: 'channels[0].url', code: 'invalid_url', message: 'bad url' },
    { field: 'attributes.route', code: 'invalid_value', message: 'too long' },
    { field: 'window', code: 'invalid_duration', message: 'bad window' },
    { field: 'window', code: 'out_of_range', message: 'too long a window' },
  ]);
  assert.equal(byField.get('channels[0].url'), 'Bad url.');
  assert.equal(byField.get('attributes'), 'Too long.');
  assert.equal(byField.get('window'), 'Bad window. Too long a window.');
  assert.ok(fieldsOf(EMPTY_RULE_FORM).includes('channels[0].url'));
  assert.equal(fieldsOf({ ...EMPTY_RULE_FORM, kind: 'absence' }).includes('threshold'), false);
});

test('a stored rule fills the form', () => {
  const form = formFromRule({
    name: 'slow',
    metric: 'latency',
    window: '5m',
    aggregation: 'p95',
    comparator: '>=',
    threshold: 3,
    for: '2m',
    attributes: { route: '/pay' },
    channels: [{ url: 'https://hooks.example.com/a' }],
  });
  assert.equal(form.threshold, '3');
  assert.equal(form.forDuration, '2m');
  assert.deepEqual(form.attributes, [{ key: 'route', value: '/pay' }]);
  assert.deepEqual(form.channels, [{ url: 'https://hooks.example.com/a', format: 'json' }]);
});

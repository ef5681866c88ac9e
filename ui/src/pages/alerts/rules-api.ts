// Alert rule requests. Changes carry the version they were based on (`If-Match`), so a
// change made meanwhile by someone else is a `412 version_mismatch`, not a silent overwrite.
import { api, call, callWithHeaders, callWithoutBody } from '../../api/client.ts';
import { ApiError } from '../../api/errors.ts';
import type { Rule, RuleDefinition } from '../../api/types.ts';

export interface VersionedRule {
  rule: Rule;
  /** The rule's ETag (`"3"`), for `If-Match`. */
  etag: string;
}

/** A rule's ETag as the server spells it: its version in quotes. */
export function ruleEtag(rule: Rule): string {
  return `"${rule.version}"`;
}

export async function listRules(signal: AbortSignal): Promise<Rule[]> {
  const list = await call(api.GET('/alerts/rules', { signal }));
  return list.data;
}

export async function readRule(ruleId: string): Promise<VersionedRule> {
  const { data, headers } = await callWithHeaders(api.GET('/alerts/rules/{ruleId}', { params: { path: { ruleId } } }));
  return { rule: data, etag: headers.get('ETag') ?? ruleEtag(data) };
}

/**
 * The form sends what the person entered, complete or not: the server answers every problem
 * at once, per field (`invalid_rule`), and the form shows each beside its field. So the body is
 * the rule as the form holds it, not yet the request shape the spec requires of a valid one.
 */
/* The type system is told so here, once: openapi-fetch's exclusive form of the spec's
 * `oneOf` (ThresholdRuleRequest | AbsenceRuleRequest) admits only complete rules. */
function asRequest(definition: RuleDefinition): never {
  return definition as never;
}

export async function createRule(definition: RuleDefinition): Promise<Rule> {
  return call(api.POST('/alerts/rules', { body: asRequest(definition) }));
}

export async function replaceRule(ruleId: string, etag: string, definition: RuleDefinition): Promise<Rule> {
  const params = { path: { ruleId }, header: { 'If-Match': etag } };
  return call(api.PUT('/alerts/rules/{ruleId}', { params, body: asRequest(definition) }));
}

export async function deleteRule(rule: Rule): Promise<void> {
  const params = { path: { ruleId: rule.id }, header: { 'If-Match': ruleEtag(rule) } };
  await callWithoutBody(api.DELETE('/alerts/rules/{ruleId}', { params }));
}

export function isVersionMismatch(error: unknown): error is ApiError {
  return error instanceof ApiError && error.status === 412;
}

/** The version the server has now, from a `412`'s details (`{"currentVersion": 4}`). */
export function currentVersionOf(error: ApiError): number | null {
  for (const detail of error.details) {
    if (
      typeof detail === 'object' &&
      detail !== null &&
      'currentVersion' in detail &&
      typeof detail.currentVersion === 'number'
    ) {
      return detail.currentVersion;
    }
  }
  return null;
}

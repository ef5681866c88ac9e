// Names for the API's types, all generated from the committed OpenAPI document
// (schema.d.ts, written by `npm run generate`).
import type { components } from './schema.d.ts';

type Schemas = components['schemas'];

export type Session = Schemas['SessionResponse'];
export type Permission = Schemas['PermissionDto'];
export type RetentionDays = Schemas['RetentionDaysDto'];
export type MetricSummary = Schemas['MetricSummary'];
export type GroupCount = Schemas['GroupDto'];
export type EventRecord = Schemas['EventDto'];
export type EventType = Schemas['EventTypeParam'];
export type QueryRequest = Schemas['QueryRequest'];
export type QueryResponse = Schemas['QueryResponse'];
export type EventCountPoint = Schemas['EventCountDto'];
export type MetricPoint = Schemas['PointDto'];
export type Catalog = Schemas['CatalogResponse'];
export type RuleDefinition = Schemas['AlertRuleBody'];
export type Rule = Schemas['RuleResponse'];
export type Aggregation = Schemas['Aggregation'];
export type Comparator = Schemas['Comparator'];
export type Severity = Schemas['SeverityDoc'];
export type ChannelFormat = Schemas['ChannelFormat'];
export type RuleKind = Schemas['RuleKind'];
export type Transition = Schemas['TransitionDto'];
export type TransitionKind = Schemas['TransitionKind'];
export type GroupBy = Schemas['GroupByDoc'];
export type SummaryWindow = Schemas['SummaryWindowDoc'];
export type DeadLetter = Schemas['DeadLetterDto'];
export type AuditEntry = Schemas['AuditEntryDto'];
export type ApiKey = Schemas['ApiKeyDto'];
export type ApiKeyList = Schemas['ApiKeyList'];

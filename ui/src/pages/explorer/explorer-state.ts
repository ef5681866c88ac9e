// The explorer's view as it lives in the address: range, filters and grouping. Pure.
import type { EventType, GroupBy } from '../../api/types.ts';
import { choiceFrom, choicesOf } from '../../lib/choices.ts';
import { RANGE_PRESETS, rangeFromSearch, rangeToSearch, type TimeRange } from '../../lib/time.ts';

export const EVENT_TYPES = choicesOf<EventType>({ log: 'log', metric: 'metric', trace: 'trace' });
export const GROUPINGS = choicesOf<GroupBy>({ service: 'Service', type: 'Type', user: 'User' });
export type Grouping = GroupBy;

export interface ExplorerView {
  range: TimeRange;
  eventType: EventType | null;
  serviceName: string | null;
  userId: string | null;
  groupBy: Grouping | null;
}

export const DEFAULT_RANGE = RANGE_PRESETS[1]!;

function text(value: string | null): string | null {
  return value === null || value.trim() === '' ? null : value;
}

export function viewFromSearch(search: URLSearchParams): ExplorerView {
  return {
    range: rangeFromSearch(search, DEFAULT_RANGE),
    eventType: choiceFrom(EVENT_TYPES, search.get('type') ?? ''),
    serviceName: text(search.get('service')),
    userId: text(search.get('user')),
    groupBy: choiceFrom(GROUPINGS, search.get('group') ?? ''),
  };
}

/** Query parameters for a view; null removes a parameter that is not set. */
export function viewToSearch(view: ExplorerView): Record<string, string | null> {
  return {
    ...rangeToSearch(view.range),
    type: view.eventType,
    service: view.serviceName,
    user: view.userId,
    group: view.groupBy,
  };
}

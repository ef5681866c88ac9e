// The explorer's events: the first page, then "Load more" by cursor (keyset paging visits
// every matching event once), and the counts per group when grouping.
import { api, call } from '../../api/client.ts';
import type { EventRecord, GroupCount, QueryRequest, QueryResponse } from '../../api/types.ts';
import { useCursorPages, type CursorPage, type CursorPages } from '../../lib/use-cursor-pages.ts';
import { resolveRange } from '../../lib/time.ts';
import { useResource, type Resource } from '../../lib/use-resource.ts';
import type { ExplorerView } from './explorer-state.ts';

export const PAGE_SIZE = 100;
const GROUP_LIMIT = 20;

interface FirstPage extends CursorPage<EventRecord> {
  /** The request the cursor belongs to: continuations repeat it exactly. */
  request: QueryRequest;
  /** Every matching event (the first answer counts them). */
  total: number | null;
}

function baseRequest(view: ExplorerView): QueryRequest {
  const { from, to } = resolveRange(view.range, new Date());
  return {
    startTime: from.toISOString(),
    endTime: to.toISOString(),
    eventType: view.eventType,
    serviceName: view.serviceName,
    userId: view.userId,
  };
}

function pageOf(response: QueryResponse): CursorPage<EventRecord> & { total: number | null } {
  if ('pagination' in response) {
    return { items: response.data, cursor: response.nextCursor ?? null, total: response.pagination.total };
  }
  if ('hasMore' in response) {
    return { items: response.data, cursor: response.hasMore ? (response.nextCursor ?? null) : null, total: null };
  }
  return { items: [], cursor: null, total: null };
}

/** `key` names the view (its query string): a new key starts over. */
export function useEvents(view: ExplorerView, key: string): CursorPages<EventRecord, FirstPage> {
  return useCursorPages(
    async (signal): Promise<FirstPage> => {
      const request = baseRequest(view);
      const response = await call(api.POST('/query', { body: { ...request, limit: PAGE_SIZE }, signal }));
      return { request, ...pageOf(response) };
    },
    async (first, cursor) =>
      pageOf(await call(api.POST('/query', { body: { ...first.request, limit: PAGE_SIZE, cursor } }))),
    [key],
  );
}

export function useGroups(view: ExplorerView, key: string): Resource<{ groups: GroupCount[]; total: number }> | null {
  const grouping = view.groupBy;
  const resource = useResource(
    async (signal) => {
      if (grouping === null) return { groups: [], total: 0 };
      const body = { ...baseRequest(view), groupBy: grouping, limit: GROUP_LIMIT };
      const response = await call(api.POST('/query', { body, signal }));
      return 'total' in response ? { groups: response.data, total: response.total } : { groups: [], total: 0 };
    },
    [key],
  );
  return grouping === null ? null : resource;
}

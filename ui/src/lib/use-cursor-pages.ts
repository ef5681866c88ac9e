// A list read page by page with cursors: the first page as a resource (reloaded when its
// inputs change), further pages appended by "Load more".
import { useEffect, useState } from 'preact/hooks';
import { isAbort } from '../api/errors.ts';
import { useResource, type Resource } from './use-resource.ts';

export interface CursorPage<Item> {
  items: Item[];
  /** Continues after this page; null when it is the last. */
  cursor: string | null;
}

export interface CursorPages<Item, First extends CursorPage<Item>> {
  first: Resource<First>;
  /** Every item loaded so far, in order. */
  items: Item[];
  hasMore: boolean;
  loadingMore: boolean;
  moreError: unknown;
  loadMore(): void;
}

export function useCursorPages<Item, First extends CursorPage<Item>>(
  loadFirst: (signal: AbortSignal) => Promise<First>,
  loadNext: (first: First, cursor: string) => Promise<CursorPage<Item>>,
  inputs: readonly unknown[],
): CursorPages<Item, First> {
  const first = useResource(loadFirst, inputs);
  const [more, setMore] = useState<CursorPage<Item> | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [moreError, setMoreError] = useState<unknown>(null);

  useEffect(() => {
    setMore(null);
    setMoreError(null);
    setLoadingMore(false);
  }, [first.data]);

  const cursor = more === null ? (first.data?.cursor ?? null) : more.cursor;
  const loadMore = (): void => {
    const firstPage = first.data;
    if (firstPage === undefined || cursor === null || loadingMore) return;
    setLoadingMore(true);
    setMoreError(null);
    loadNext(firstPage, cursor)
      .then((page) =>
        setMore((current) => ({ items: [...(current?.items ?? []), ...page.items], cursor: page.cursor })),
      )
      .catch((error: unknown) => {
        if (!isAbort(error)) setMoreError(error);
      })
      .finally(() => setLoadingMore(false));
  };

  return {
    first,
    items: [...(first.data?.items ?? []), ...(more?.items ?? [])],
    hasMore: cursor !== null,
    loadingMore,
    moreError,
    loadMore,
  };
}

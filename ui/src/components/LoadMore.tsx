// The end of a paged list: "Load more" while there is more, a note when there is not.
import { ErrorNotice } from './Notice.tsx';

interface LoadMoreProps {
  pages: { hasMore: boolean; loadingMore: boolean; moreError: unknown; loadMore(): void };
  doneText: string;
}

export function LoadMore({ pages, doneText }: LoadMoreProps) {
  return (
    <>
      {pages.moreError === null ? null : <ErrorNotice error={pages.moreError} onRetry={pages.loadMore} />}
      <div class="load-more">
        {pages.hasMore ? (
          <button type="button" class="button" onClick={pages.loadMore} disabled={pages.loadingMore}>
            {pages.loadingMore ? 'Loading…' : 'Load more'}
          </button>
        ) : (
          <span class="muted">{doneText}</span>
        )}
      </div>
    </>
  );
}

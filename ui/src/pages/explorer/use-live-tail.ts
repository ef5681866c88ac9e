// New matching events as they are accepted, newest first, at most LIVE_ROW_LIMIT of them.
import { useEffect, useState } from 'preact/hooks';
import { startLiveTail, type LiveStatus } from '../../api/live.ts';
import type { EventRecord } from '../../api/types.ts';
import type { ExplorerView } from './explorer-state.ts';

export const LIVE_ROW_LIMIT = 500;

export interface LiveRow {
  /** Arrival order: a stable key even if an event came twice across a reset. */
  sequence: number;
  event: EventRecord;
}

export interface LiveTail {
  rows: LiveRow[];
  status: LiveStatus | null;
  dropped: number;
  resetReason: string | null;
}

export function useLiveTail(enabled: boolean, view: ExplorerView): LiveTail {
  const [rows, setRows] = useState<LiveRow[]>([]);
  const [status, setStatus] = useState<LiveStatus | null>(null);
  const [dropped, setDropped] = useState(0);
  const [resetReason, setResetReason] = useState<string | null>(null);
  const { eventType, serviceName, userId } = view;

  useEffect(() => {
    setRows([]);
    setDropped(0);
    setResetReason(null);
    if (!enabled) {
      setStatus(null);
      return;
    }
    let sequence = 0;
    return startLiveTail(
      { eventType: eventType ?? undefined, serviceName: serviceName ?? undefined, userId: userId ?? undefined },
      {
        onEvents(events) {
          const arrived = events.map((event) => ({ sequence: sequence++, event })).reverse();
          setRows((current) => [...arrived, ...current].slice(0, LIVE_ROW_LIMIT));
        },
        onNotice(notice) {
          if (notice.kind === 'dropped') setDropped((count) => count + notice.count);
          else setResetReason(notice.reason);
        },
        onStatus: setStatus,
      },
    );
  }, [enabled, eventType, serviceName, userId]);

  return { rows, status, dropped, resetReason };
}

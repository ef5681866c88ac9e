// Loading data for a page: cancels what its inputs made stale, retries what may succeed
// later (429, 503, no network) after the delay the service asked for, optionally refreshes
// on an interval while the tab is visible, and reads again after a change until the
// answer shows it (lists the service keeps as projections follow a change a moment late).
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { explain, isAbort } from '../api/errors.ts';

export interface Resource<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  /** When `data` was last loaded. */
  updatedAt: Date | null;
  reload(): void;
  /** Reads again, and again a little later while `shows` says the answer does not show a change yet. */
  reloadUntil(shows: (data: T) => boolean): void;
}

interface State<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  updatedAt: Date | null;
}

const EMPTY: State<never> = { data: undefined, error: null, loading: true, updatedAt: null };
const CATCH_UP_ATTEMPTS = 8;
const CATCH_UP_DELAY_MS = 250;

export function useResource<T>(
  load: (signal: AbortSignal) => Promise<T>,
  inputs: readonly unknown[],
  refreshSeconds: number | null = null,
): Resource<T> {
  const [state, setState] = useState<State<T>>(EMPTY);
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((value) => value + 1), []);
  const latestLoad = useRef(load);
  latestLoad.current = load;
  const previousInputs = useRef<readonly unknown[] | null>(null);
  const dueWhileHidden = useRef(false);
  const awaiting = useRef<{ shows: (data: T) => boolean; attempts: number } | null>(null);
  const reloadUntil = useCallback(
    (shows: (data: T) => boolean) => {
      awaiting.current = { shows, attempts: 0 };
      reload();
    },
    [reload],
  );

  useEffect(() => {
    const onVisibilityChange = (): void => {
      if (document.visibilityState === 'visible' && dueWhileHidden.current) {
        dueWhileHidden.current = false;
        reload();
      }
    };
    document.addEventListener('visibilitychange', onVisibilityChange);
    return () => document.removeEventListener('visibilitychange', onVisibilityChange);
  }, [reload]);

  useEffect(() => {
    const inputsChanged = !sameInputs(previousInputs.current, inputs);
    previousInputs.current = inputs;
    setState((current) => (inputsChanged ? EMPTY : { ...current, loading: true }));
    const controller = new AbortController();
    let timer: number | undefined;
    const again = (seconds: number): void => {
      timer = window.setTimeout(() => {
        if (document.visibilityState === 'visible') reload();
        else dueWhileHidden.current = true;
      }, seconds * 1000);
    };
    latestLoad.current(controller.signal).then(
      (data) => {
        if (controller.signal.aborted) return;
        setState({ data, error: null, loading: false, updatedAt: new Date() });
        const catchingUp = awaiting.current;
        if (catchingUp !== null && !catchingUp.shows(data) && catchingUp.attempts < CATCH_UP_ATTEMPTS) {
          catchingUp.attempts += 1;
          timer = window.setTimeout(reload, CATCH_UP_DELAY_MS * catchingUp.attempts);
          return;
        }
        awaiting.current = null;
        if (refreshSeconds !== null) again(refreshSeconds);
      },
      (error: unknown) => {
        if (controller.signal.aborted || isAbort(error)) return;
        setState((current) => ({ ...current, error, loading: false }));
        const retryInSeconds = explain(error).retryInSeconds;
        if (retryInSeconds !== null) again(Math.max(1, retryInSeconds));
      },
    );
    return () => {
      controller.abort();
      window.clearTimeout(timer);
    };
    // `inputs` are the caller's dependencies; `tick` reloads with the same inputs.
  }, [...inputs, tick, refreshSeconds]);

  return { ...state, reload, reloadUntil };
}

function sameInputs(previous: readonly unknown[] | null, next: readonly unknown[]): boolean {
  return (
    previous !== null &&
    previous.length === next.length &&
    previous.every((value, index) => Object.is(value, next[index]))
  );
}

// Inline messages: errors (with what the person can do about them), and loading states.
import type { ComponentChildren } from 'preact';
import { explain } from '../api/errors.ts';
import type { Resource } from '../lib/use-resource.ts';
import { formatDateTime } from '../lib/format.ts';
import { AlertIcon } from './Icons.tsx';

interface ErrorNoticeProps {
  error: unknown;
  /** Offered as "Try again" unless the failure is retried automatically. */
  onRetry?: () => void;
  /** The caller retries by itself after the delay the failure asks for (data that loads). */
  retriesAutomatically?: boolean;
}

export function ErrorNotice({ error, onRetry, retriesAutomatically = false }: ErrorNoticeProps) {
  const { title, message, retryInSeconds } = explain(error);
  const automatic = retriesAutomatically && retryInSeconds !== null;
  return (
    <div class="notice notice-error" role="alert">
      <AlertIcon />
      <div>
        <strong>{title}</strong>
        <p>
          {message}
          {automatic ? ` Retrying in ${retryInSeconds} s.` : ''}
        </p>
      </div>
      {onRetry !== undefined && !automatic ? (
        <button type="button" class="button" onClick={onRetry}>
          Try again
        </button>
      ) : null}
    </div>
  );
}

export function InfoNotice({
  children,
  tone = 'info',
}: {
  children: ComponentChildren;
  tone?: 'info' | 'warning' | 'success';
}) {
  return (
    <div class={`notice notice-${tone}`} role="status">
      {children}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" />
      {label}
    </p>
  );
}

/** What a loading resource shows besides its data: its error, or that it is loading. */
export function ResourceStatus({ resource, loading }: { resource: Resource<unknown>; loading: string }) {
  if (resource.error !== null)
    return <ErrorNotice error={resource.error} onRetry={resource.reload} retriesAutomatically />;
  return resource.data === undefined ? <Loading label={loading} /> : null;
}

/** Says when an answer covers only the part of its range the tenant's retention still holds. */
export function CoverageNotice({ coverage }: { coverage: { from: string; complete: boolean } }) {
  if (coverage.complete) return null;
  return (
    <InfoNotice tone="warning">
      These figures cover {formatDateTime(coverage.from)} onwards: older data is past this tenant’s retention
      (administrators set it under Administration).
    </InfoNotice>
  );
}

// Counts as horizontal bars built from elements (widths set through the DOM, not markup).
import { formatCount } from '../lib/format.ts';

export interface Bar {
  label: string;
  count: number;
}

export function BarList({ bars, label, emptyText }: { bars: readonly Bar[]; label: string; emptyText: string }) {
  if (bars.length === 0) return <p class="muted">{emptyText}</p>;
  const largest = Math.max(...bars.map((bar) => bar.count), 1);
  return (
    <ol class="bar-list" aria-label={label}>
      {bars.map((bar, index) => (
        <li key={`${index}:${bar.label}`} class="bar-row">
          <span class="bar-label" title={bar.label}>
            {bar.label}
          </span>
          <span class="bar-track" aria-hidden="true">
            <span class="bar-fill" style={{ width: `${(bar.count / largest) * 100}%` }} />
          </span>
          <span class="bar-count">{formatCount(bar.count)}</span>
        </li>
      ))}
    </ol>
  );
}

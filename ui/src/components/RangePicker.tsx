// Choosing a time range: a preset relative to now, or a custom from/to.
import { useEffect, useState } from 'preact/hooks';
import {
  fromLocalInputValue,
  presetById,
  resolveRange,
  toLocalInputValue,
  type RangePreset,
  type TimeRange,
} from '../lib/time.ts';

interface RangePickerProps {
  range: TimeRange;
  presets: readonly RangePreset[];
  onChange(range: TimeRange): void;
  id: string;
}

const CUSTOM = 'custom';

export function RangePicker({ range, presets, onChange, id }: RangePickerProps) {
  const [choice, setChoice] = useState(range.kind === 'preset' ? range.preset.id : CUSTOM);
  const resolved = resolveRange(range, new Date());
  const [from, setFrom] = useState(toLocalInputValue(resolved.from));
  const [to, setTo] = useState(toLocalInputValue(resolved.to));
  const [problem, setProblem] = useState<string | null>(null);

  useEffect(() => {
    setChoice(range.kind === 'preset' ? range.preset.id : CUSTOM);
    if (range.kind === 'custom') {
      setFrom(toLocalInputValue(range.from));
      setTo(toLocalInputValue(range.to));
    }
  }, [range.kind === 'preset' ? range.preset.id : `${range.from.getTime()}-${range.to.getTime()}`]);

  const choose = (value: string): void => {
    setChoice(value);
    setProblem(null);
    const preset = presetById(value, presets);
    if (preset !== null) onChange({ kind: 'preset', preset });
  };

  const applyCustom = (): void => {
    const start = fromLocalInputValue(from);
    const end = fromLocalInputValue(to);
    if (start === null || end === null) return setProblem('Enter both a start and an end.');
    if (start >= end) return setProblem('The start must be before the end.');
    setProblem(null);
    onChange({ kind: 'custom', from: start, to: end });
  };

  return (
    <div class="range-picker">
      <div class="field">
        <label class="field-label" for={id}>
          Time range
        </label>
        <select id={id} value={choice} onChange={(event) => choose(event.currentTarget.value)}>
          {presets.map((preset) => (
            <option key={preset.id} value={preset.id}>
              {preset.label}
            </option>
          ))}
          <option value={CUSTOM}>Custom range…</option>
        </select>
      </div>
      {choice === CUSTOM ? (
        <div class="range-custom">
          <div class="field">
            <label class="field-label" for={`${id}-from`}>
              From
            </label>
            <input
              id={`${id}-from`}
              type="datetime-local"
              value={from}
              onInput={(event) => setFrom(event.currentTarget.value)}
            />
          </div>
          <div class="field">
            <label class="field-label" for={`${id}-to`}>
              To
            </label>
            <input
              id={`${id}-to`}
              type="datetime-local"
              value={to}
              onInput={(event) => setTo(event.currentTarget.value)}
            />
          </div>
          <button type="button" class="button" onClick={applyCustom}>
            Apply range
          </button>
          {problem === null ? null : (
            <p class="field-error" role="alert">
              {problem}
            </p>
          )}
        </div>
      ) : null}
    </div>
  );
}

// A <select> over typed choices; with `anyLabel`, an empty first option stands for "any".
import type { JSX } from 'preact';
import { choiceFrom } from '../lib/choices.ts';

type SelectAttributes = Omit<JSX.HTMLAttributes<HTMLSelectElement>, 'value' | 'onChange' | 'onInput'>;

interface ChoiceSelectProps<Value extends string> extends SelectAttributes {
  choices: readonly { value: Value; label: string }[];
  value: Value | null;
  onChoose(value: Value | null): void;
  anyLabel?: string;
}

export function ChoiceSelect<Value extends string>({
  choices,
  value,
  onChoose,
  anyLabel,
  ...rest
}: ChoiceSelectProps<Value>) {
  return (
    <select
      {...rest}
      value={value ?? ''}
      onChange={(event) => onChoose(choiceFrom(choices, event.currentTarget.value))}
    >
      {anyLabel === undefined ? null : <option value="">{anyLabel}</option>}
      {choices.map((choice) => (
        <option key={choice.value} value={choice.value}>
          {choice.label}
        </option>
      ))}
    </select>
  );
}

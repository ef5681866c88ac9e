// The values of a string union generated from the spec, with their labels: a Record over
// the union fails to compile when the spec gains or loses a value.

export function choicesOf<Value extends string>(labels: Record<Value, string>): { value: Value; label: string }[] {
  return (Object.keys(labels) as Value[]).map((value) => ({ value, label: labels[value] }));
}

/** The value among `choices` equal to `text`, or null (for `<select>` values). */
export function choiceFrom<Value extends string>(choices: readonly { value: Value }[], text: string): Value | null {
  return choices.find((choice) => choice.value === text)?.value ?? null;
}

// How numbers and times read on screen.

const countFormat = new Intl.NumberFormat(undefined);
const valueFormat = new Intl.NumberFormat(undefined, { maximumSignificantDigits: 4 });
const compactFormat = new Intl.NumberFormat(undefined, { notation: 'compact', maximumSignificantDigits: 3 });
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
});

export function formatCount(value: number): string {
  return countFormat.format(value);
}

/** A measured value: four significant digits, `—` when the service has none. */
export function formatValue(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  return Math.abs(value) >= 1e6 ? compactFormat.format(value) : valueFormat.format(value);
}

export function formatTime(date: Date): string {
  return timeFormat.format(date);
}

export function formatDateTime(text: string): string {
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? text : dateTimeFormat.format(date);
}

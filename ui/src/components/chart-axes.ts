// What every chart shares: the time series (24-hour ticks, the hovered time in the legend)
// and quiet grid lines.
import type uPlot from 'uplot';

const DAY_SECONDS = 86_400;
const hourMinute = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const monthDay = new Intl.DateTimeFormat(undefined, { month: 'short', day: '2-digit' });
const legendTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  hourCycle: 'h23',
});

/** Tick labels for a time axis: `14:05`, and the date on day boundaries or daily ticks. */
function timeTicks(_plot: uPlot, splits: number[], _axis: number, _space: number, increment: number): string[] {
  return splits.map((seconds) => {
    const date = new Date(seconds * 1000);
    if (increment >= DAY_SECONDS) return monthDay.format(date);
    const midnight = date.getHours() === 0 && date.getMinutes() === 0;
    return midnight ? monthDay.format(date) : hourMinute.format(date);
  });
}

const STROKE = '#4b5563';
const GRID = { stroke: '#eef0f3', width: 1 };

export const TIME_AXIS: uPlot.Axis = { stroke: STROKE, grid: GRID, ticks: GRID, values: timeTicks };

export function valueAxis(format: (value: number) => string): uPlot.Axis {
  return { stroke: STROKE, grid: GRID, ticks: GRID, size: 64, values: (_plot, splits) => splits.map(format) };
}

/** The x series: bucket starts in epoch seconds, shown in the legend as a local time. */
export const TIME_SERIES: uPlot.Series = {
  label: 'Time',
  value: (_plot, seconds) => (seconds === null ? '—' : legendTime.format(new Date(seconds * 1000))),
};

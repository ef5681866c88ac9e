// A uPlot chart that follows its container's width. uPlot draws on canvas and writes its
// legend as text, so labels from the data stay text.
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useEffect, useRef } from 'preact/hooks';

export type ChartOptions = Omit<uPlot.Options, 'width' | 'height'>;

export interface ChartProps {
  /** Everything but the size; another object (by identity) builds the chart anew. */
  options: ChartOptions;
  data: uPlot.AlignedData;
  height: number;
  /** What the chart shows, for people who cannot see it. */
  label: string;
}

export function Chart({ options, data, height, label }: ChartProps) {
  const container = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const latestData = useRef(data);
  latestData.current = data;

  useEffect(() => {
    const element = container.current;
    if (element === null) return;
    const chart = new uPlot({ ...options, width: element.clientWidth, height }, latestData.current, element);
    plot.current = chart;
    const observer = new ResizeObserver(() => {
      if (element.clientWidth > 0) chart.setSize({ width: element.clientWidth, height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, [options, height]);

  useEffect(() => {
    plot.current?.setData(data);
  }, [data]);

  return <div class="chart" role="group" aria-label={label} ref={container} />;
}

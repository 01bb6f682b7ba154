import uPlot from 'uplot';
import { h } from './dom.js';

export interface ChartSeries {
  label: string;
  values: Array<number | null>;
  color: string;
  /** Points only, no line (e.g. failures). */
  pointsOnly?: boolean;
  dash?: number[];
  width?: number;
}

export interface ChartOptions {
  title: string;
  /** x values: unix seconds (time axis). */
  x: number[];
  series: ChartSeries[];
  /** Horizontal lines drawn across the plot (a constant series each, so they show in the legend). */
  lines?: Array<{ label: string; value: number | null; color: string; dash?: number[] }>;
  formatY?: (value: number) => string;
  /** Points shown on the line series (for runs: one point per run). */
  points?: boolean;
  testId?: string;
}

/**
 * A uPlot chart in a titled box. The box carries data-points: how many non-null points its data series got
 * (lines excluded), so a reader (or a test) can tell what is plotted without reading the canvas.
 */
export function lineChart(options: ChartOptions, width = 560): HTMLElement {
  const box = h('div', { class: 'chart', 'data-chart': options.testId ?? options.title }, h('h3', {}, options.title));
  const lines = (options.lines ?? []).filter((line) => line.value !== null && line.value !== undefined);
  const format = options.formatY ?? ((value: number) => String(value));
  const series: uPlot.Series[] = [
    {},
    ...options.series.map((item) => ({
      label: item.label,
      stroke: item.color,
      width: item.width ?? 1.5,
      dash: item.dash,
      spanGaps: !item.pointsOnly,
      paths: item.pointsOnly ? () => null : undefined,
      points: { show: item.pointsOnly || options.points === true, size: item.pointsOnly ? 8 : 4, stroke: item.color, fill: item.pointsOnly ? item.color : '#fff' },
      value: (_chart: uPlot, value: number | null) => (value === null || value === undefined ? '–' : format(value)),
    })),
    ...lines.map((line) => ({
      label: line.label,
      stroke: line.color,
      width: 1,
      dash: line.dash ?? [6, 4],
      points: { show: false },
      value: () => format(line.value as number),
    })),
  ];
  const data: uPlot.AlignedData = [
    options.x,
    ...options.series.map((item) => item.values),
    ...lines.map((line) => options.x.map(() => line.value as number)),
  ];
  const chart = new uPlot(
    {
      width,
      height: 220,
      series,
      axes: [{}, { values: (_chart, ticks) => ticks.map((tick) => format(tick)), size: 70 }],
      scales: { x: { time: true } },
      legend: { live: true },
    },
    data,
    box,
  );
  let plotted = 0;
  for (const values of chart.data.slice(1, 1 + options.series.length) as Array<ArrayLike<number | null | undefined>>) {
    for (let index = 0; index < values.length; index += 1) if (values[index] !== null && values[index] !== undefined) plotted += 1;
  }
  box.setAttribute('data-points', String(plotted));
  return box;
}

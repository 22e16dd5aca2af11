// Time charts on uPlot: one place for sizes, colours, the time axis and resizing.
import uPlot from 'uplot';

/** Line colours with at least 4.5:1 contrast on white, told apart by more than hue alone. */
export const PALETTE = ['#1d4ed8', '#b91c1c', '#047857', '#7c3aed', '#b45309', '#0e7490', '#be185d', '#374151'];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];
// A bucket's value drawn across the bucket (x is its start).
const bars = uPlot.paths.bars({ size: [0.9, 40], align: 1 });
const stepped = uPlot.paths.stepped({ align: 1 });

/**
 * A uPlot chart of time series in `container`: `series` is `[{ label, stroke?, fill?, width?, dash?,
 * bars?, stepped?, format? }]` (x is time in seconds, each value the start of its bucket); `points` marks each value (for sparse series); `onSelect(fromMs, toMs)` is called when the user drags across it.
 */
export function timeChart(container, { series, yLabel, points = false, onSelect, bands = [] }) {
  const width = () => Math.max(240, container.clientWidth);
  const baseLabel = container.getAttribute('aria-label') ?? 'chart';
  const opts = {
    width: width(),
    height: 200,
    cursor: { drag: { x: Boolean(onSelect), y: false, setScale: false } },
    select: { show: Boolean(onSelect) },
    legend: { live: true },
    scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min ?? 0), Math.min(Number.MAX_VALUE, Math.max(1, (max ?? 1) * 1.1))] } },
    axes: [
      { stroke: '#374151', grid: { stroke: '#e5e7eb' } },
      { stroke: '#374151', grid: { stroke: '#e5e7eb' }, label: yLabel, size: 60 },
    ],
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.stroke ?? PALETTE[i % PALETTE.length],
        width: s.width ?? 2,
        dash: s.dash ?? DASHES[i % DASHES.length],
        fill: s.fill,
        points: { show: points, size: 5 },
        spanGaps: false,
        paths: s.bars ? bars : s.stepped ? stepped : undefined,
        value: (u, v) => (v == null ? '–' : (s.format ?? defaultFormat)(v)),
      })),
    ],
    bands,
    hooks: {
      // Screen readers get the latest values in the chart's label (the canvas says nothing).
      setData: [(u) => container.setAttribute('aria-label', describe(u, baseLabel))],
      setSelect: onSelect ? [(u) => {
        if (u.select.width < 2) return;
        const from = u.posToVal(u.select.left, 'x');
        const to = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        onSelect(Math.round(from * 1000), Math.round(to * 1000));
      }] : [],
    },
  };
  const chart = new uPlot(opts, [[], ...series.map(() => [])], container);
  chart.root.querySelector('.u-legend')?.setAttribute('aria-label', `Legend: ${series.map((s) => s.label).join(', ')}`);
  const resizes = new ResizeObserver(() => {
    if (Math.abs(chart.width - width()) > 4) chart.setSize({ width: width(), height: 200 });
  });
  resizes.observe(container);
  // A destroyed chart stops following its container's size (charts are rebuilt when the
  // services change; each rebuild used to leave an observer behind).
  const destroy = chart.destroy.bind(chart);
  chart.destroy = () => {
    resizes.disconnect();
    destroy();
  };
  return chart;
}

/** "<label>; at 3:41:05 PM: a 12, b 3" from the last point where any series has a value. */
function describe(u, label) {
  const xs = u.data[0];
  for (let i = xs.length - 1; i >= 0; i--) {
    const values = u.series.slice(1)
      .map((s, k) => [s.label, u.data[k + 1][i]])
      .filter(([, v]) => v !== null && v !== undefined);
    if (values.length) {
      const at = new Date(xs[i] * 1000).toLocaleTimeString();
      return `${label}; at ${at}: ${values.map(([name, v]) => `${name} ${defaultFormat(v)}`).join(', ')}`;
    }
  }
  return `${label}; no data yet`;
}

function defaultFormat(v) {
  return Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toPrecision(3);
}

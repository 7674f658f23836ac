// Chart.js (UMD build from the npm package, loaded by index.html as window.Chart).
// Time axes are linear axes of epoch milliseconds with our own tick labels, so no date
// adapter is needed. Each chart's container gets data-points (how many points it drew)
// and data-rendered once drawn: tests and people can tell a drawn chart from an empty one.
import { h } from './dom.js';

export const PALETTE = ['#1f6feb', '#d9480f', '#2b8a3e', '#9c36b5', '#e8590c', '#0b7285', '#5c940d', '#c2255c'];

const tickTime = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const tickDayTime = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

function library() {
  if (!window.Chart) throw new Error('Chart.js did not load (/console/vendor/chart.umd.min.js)');
  return window.Chart;
}

// Ticks on round local times (every 10 min, 1 h, 6 h, a day…), at most about `count`.
const STEPS = [60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3, 10800e3, 21600e3, 43200e3, 86400e3,
  2 * 86400e3, 7 * 86400e3];
function roundTicks(min, max, count) {
  const step = STEPS.find((s) => (max - min) / s <= count) || STEPS[STEPS.length - 1];
  const offset = new Date(min).getTimezoneOffset() * 60e3;  // align to local, not UTC, hours and days
  const ticks = [];
  for (let t = Math.ceil((min - offset) / step) * step + offset; t <= max; t += step) ticks.push({ value: t });
  return ticks;
}

// A figure: a titled box holding one canvas; `chart` draws into it.
export function figure(title, { testid, tall = false } = {}) {
  const canvas = h('canvas', { role: 'img', 'aria-label': title });
  const box = h('figure', { class: ['chart', tall && 'chart-tall'], dataset: { testid: testid || '', points: '0' } },
    h('figcaption', {}, title), h('div', { class: 'chart-body' }, canvas));
  return { box, canvas };
}

function mark(fig, chart) {
  const points = chart.data.datasets.reduce((n, d) => n + d.data.filter((p) => p !== null && (p.y ?? p) !== null).length, 0);
  fig.box.dataset.points = String(points);
  fig.box.dataset.rendered = 'true';
  fig.box.classList.toggle('chart-empty', points === 0);
}

// series: [{label, points: [{x: ms, y}], type?: 'bar'|'line', axis?: 'y'|'y2'}]. The x axis
// spans exactly from..to (the range asked for), whatever the data covers: an empty start
// of the range shows as empty, not as a stretched axis. Up to a day the ticks are clock
// times; beyond, they carry the date too.
export function timeChart(fig, series, { unit = '', from, to, stacked = false, y2unit } = {}) {
  const Chart = library();
  const min = from === undefined ? undefined : +new Date(from);
  const max = to === undefined ? undefined : +new Date(to);
  const span = min !== undefined && max !== undefined ? max - min : 86400000;
  const format = span > 86400000 ? (v) => tickDayTime.format(new Date(v)) : (v) => tickTime.format(new Date(v));
  const chart = new Chart(fig.canvas, {
    type: 'line',
    data: {
      datasets: series.map((s, i) => ({
        label: s.label,
        type: s.type || 'line',
        data: s.points,
        yAxisID: s.axis || 'y',
        borderColor: s.color || PALETTE[i % PALETTE.length],
        backgroundColor: (s.color || PALETTE[i % PALETTE.length]) + (s.type === 'bar' ? 'b0' : '22'),
        borderWidth: s.type === 'bar' ? 0 : 1.5,
        pointRadius: s.points.length > 60 ? 0 : 2,
        tension: 0.2,
        fill: !!s.fill,
        spanGaps: false,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      parsing: true,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      plugins: {
        legend: { display: series.length > 1, labels: { boxWidth: 10, font: { size: 11 } } },
        tooltip: { callbacks: { title: (items) => items.length ? new Date(items[0].parsed.x).toLocaleString() : '' } },
      },
      scales: {
        x: { type: 'linear', min, max, stacked,
          afterBuildTicks: (axis) => { if (min !== undefined && max !== undefined) axis.ticks = roundTicks(min, max, span > 86400000 ? 6 : 8); },
          ticks: { callback: format, maxRotation: 0, autoSkip: true, font: { size: 11 } },
          grid: { color: '#eef1f5' } },
        y: { stacked, beginAtZero: true, title: { display: !!unit, text: unit }, ticks: { font: { size: 11 } },
          grid: { color: '#eef1f5' } },
        ...(y2unit ? { y2: { position: 'right', beginAtZero: true, title: { display: true, text: y2unit },
          grid: { drawOnChartArea: false } } } : {}),
      },
    },
  });
  mark(fig, chart);
  return chart;
}

// labels: category names; series: [{label, values: [...], type?, axis?}]. suggestedMin and
// suggestedMax span the y axis at least that far (a 1–5 score) unless a value lies beyond;
// stacked piles the bars of each label on one another (counts by kind); integer: whole-number
// ticks only (counts).
export function categoryChart(fig, labels, series, { unit = '', percent = false, y2unit, suggestedMin,
  suggestedMax, stacked = false, integer = false } = {}) {
  const Chart = library();
  const tick = percent ? (v) => `${Math.round(v * 100)} %` : undefined;
  const chart = new Chart(fig.canvas, {
    type: 'bar',
    data: {
      labels,
      datasets: series.map((s, i) => ({
        label: s.label,
        type: s.type || 'bar',
        data: s.values,
        yAxisID: s.axis || 'y',
        borderColor: s.color || PALETTE[i % PALETTE.length],
        backgroundColor: (s.color || PALETTE[i % PALETTE.length]) + (s.type === 'line' ? '22' : 'c0'),
        borderWidth: s.type === 'line' ? 2 : 0,
        pointRadius: 2,
        spanGaps: true,
      })),
    },
    options: {
      animation: false,
      maintainAspectRatio: false,
      plugins: {
        legend: { display: series.length > 1, labels: { boxWidth: 10, font: { size: 11 } } },
        tooltip: percent ? { callbacks: { label: (c) => `${c.dataset.label}: ${(c.parsed.y * 100).toFixed(1)} %` } } : {},
      },
      scales: {
        x: { stacked, ticks: { font: { size: 11 } }, grid: { display: false } },
        y: { stacked, beginAtZero: suggestedMin === undefined, suggestedMin,
          suggestedMax: suggestedMax ?? (percent ? 1 : undefined), title: { display: !!unit, text: unit },
          ticks: { callback: tick, precision: integer ? 0 : undefined, font: { size: 11 } }, grid: { color: '#eef1f5' } },
        ...(y2unit ? { y2: { position: 'right', beginAtZero: true, title: { display: true, text: y2unit },
          grid: { drawOnChartArea: false } } } : {}),
      },
    },
  });
  mark(fig, chart);
  return chart;
}

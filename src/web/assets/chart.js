// chart.js — the dashboard's only chart drawing: an SVG area chart of queries and blocked
// queries per timeline bucket (the answer of /api/stats/timeline), with a y axis of counts,
// an x axis of local times, a legend, and a readout of one bucket under the pointer or the
// arrow keys.
//
// Built with createElementNS and attributes only: colours come from classes in style.css, so
// the chart follows the light/dark theme and needs no inline style (the page's CSP has none).
// It is redrawn at its container's width whenever that changes, rather than scaled, so text
// keeps its size on a phone.

import { formatClock, formatNumber, share } from './app.js';

const SVG_NS = 'http://www.w3.org/2000/svg';
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** Spacings of x-axis labels, smallest first; the first that fits the width is used. */
const TIME_STEPS = [MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR,
  2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];
const COMPACT = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

function svg(tag, attributes = {}, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

function html(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** Round tick values from 0 to at least `max`: steps of 1, 2 or 5 × 10^n, about `count` of them. */
function countTicks(max, count) {
  const rough = Math.max(1, max / count);
  const power = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  const ticks = [];
  for (let value = 0; ticks.length === 0 || ticks.at(-1) < max; value += step) ticks.push(value);
  return ticks;
}

/** Label times between `from` and `to` (ms) on local-time boundaries, at most `most` of them. */
function timeTicks(from, to, most) {
  const step = TIME_STEPS.find((s) => (to - from) / s <= most) ?? TIME_STEPS.at(-1);
  // Align to the local clock: a tick is where local time is a whole multiple of the step.
  const offset = -new Date(from).getTimezoneOffset() * MINUTE;
  const ticks = [];
  for (let t = Math.ceil((from + offset) / step) * step - offset; t <= to; t += step) ticks.push(t);
  return { ticks, step };
}

function tickLabel(time, step) {
  const date = new Date(time);
  const midnight = date.getHours() === 0 && date.getMinutes() === 0;
  if (step >= DAY || (midnight && step >= HOUR)) {
    return date.toLocaleDateString(undefined, { day: 'numeric', month: 'short' });
  }
  return formatClock(date);
}

function bucketLabel(start, size) {
  const end = new Date(start + size);
  const from = new Date(start);
  if (size >= DAY) return from.toLocaleDateString(undefined, { weekday: 'short', day: 'numeric', month: 'short' });
  const sameDay = from.toDateString() === new Date().toDateString();
  const day = sameDay ? '' : `${from.toLocaleDateString(undefined, { day: 'numeric', month: 'short' })}, `;
  return `${day}${formatClock(from)}–${formatClock(end)}`;
}

/**
 * Adds a chart to `container`. Returns `update(buckets, bucketSeconds)` to draw data
 * ({start, queries, blocked} as the API gives them) and `dispose()` to stop watching the size.
 */
export function timelineChart(container) {
  const figure = html('figure', 'chart');
  const legend = html('ul', 'legend');
  const plot = html('div', 'chart-plot');
  const readout = html('p', 'chart-readout muted');
  // Read out politely: keyboard users move the cursor with the arrow keys and hear the values.
  readout.setAttribute('aria-live', 'polite');
  figure.append(legend, plot, readout);
  container.append(figure);

  let data = null; // { points: [{start, queries, blocked}], size, totals }
  let width = 0;
  let cursor = null; // index of the bucket shown in the readout
  let marks = null; // the cursor's line and dots, moved without redrawing

  const observer = new ResizeObserver(() => {
    const next = Math.floor(plot.clientWidth);
    if (next !== width) {
      width = next;
      draw();
    }
  });
  observer.observe(plot);

  function update(buckets, bucketSeconds) {
    const points = buckets.map((bucket) => ({
      start: new Date(bucket.start).getTime(),
      queries: Number(bucket.queries) || 0,
      blocked: Number(bucket.blocked) || 0,
    })).filter((point) => Number.isFinite(point.start));
    const totals = points.reduce((sum, point) => ({
      queries: sum.queries + point.queries, blocked: sum.blocked + point.blocked,
    }), { queries: 0, blocked: 0 });
    data = { points, size: bucketSeconds * 1000, totals };
    cursor = null;
    drawLegend();
    width = Math.floor(plot.clientWidth);
    draw();
  }

  function drawLegend() {
    const { totals } = data;
    legend.replaceChildren(
      legendItem('queries', 'Queries', formatNumber(totals.queries)),
      legendItem('blocked', 'Blocked', `${formatNumber(totals.blocked)} (${share(totals.blocked, totals.queries)}%)`));
  }

  function legendItem(kind, label, value) {
    const item = html('li', `legend-item legend-${kind}`);
    item.append(html('span', 'swatch'), html('span', 'legend-label', label), html('span', 'legend-value', value));
    return item;
  }

  function showReadout() {
    if (!data) return;
    if (cursor === null) {
      readout.textContent = data.points.length
        ? 'Point at the chart, or focus it and use the arrow keys, to read one interval.'
        : '';
      return;
    }
    const point = data.points[cursor];
    readout.textContent = `${bucketLabel(point.start, data.size)}: ${formatNumber(point.queries)} queries, `
      + `${formatNumber(point.blocked)} blocked (${share(point.blocked, point.queries)}%)`;
  }

  function draw() {
    plot.replaceChildren();
    marks = null;
    if (!data || width <= 0) return;
    const { points, size } = data;
    const height = width < 480 ? 190 : 250;
    const max = Math.max(0, ...points.map((point) => point.queries));
    const yTicks = countTicks(Math.max(max, 1), height < 200 ? 3 : 4);
    const top = yTicks.at(-1);
    const labelChars = Math.max(...yTicks.map((tick) => COMPACT.format(tick).length));
    const margin = { top: 12, right: 14, bottom: 28, left: 14 + labelChars * 7 };
    const inner = { width: Math.max(10, width - margin.left - margin.right), height: height - margin.top - margin.bottom };
    const from = points.length ? points[0].start : Date.now() - DAY;
    const to = points.length ? points.at(-1).start + size : Date.now();
    const x = (time) => margin.left + ((time - from) / (to - from)) * inner.width;
    const y = (value) => margin.top + inner.height - (value / top) * inner.height;
    const mid = (point) => x(point.start + size / 2);

    const root = svg('svg', {
      class: 'chart-svg', width, height, viewBox: `0 0 ${width} ${height}`,
      role: 'img', tabindex: 0,
    });
    root.setAttribute('aria-label', `Queries and blocked queries over time: ${formatNumber(data.totals.queries)} queries, `
      + `${formatNumber(data.totals.blocked)} blocked. Use the left and right arrow keys to read each interval.`);

    const grid = svg('g', { class: 'chart-grid' });
    for (const tick of yTicks) {
      const ty = y(tick);
      grid.append(svg('line', { x1: margin.left, x2: margin.left + inner.width, y1: ty, y2: ty }));
      grid.append(svg('text', { class: 'chart-axis', x: margin.left - 6, y: ty, 'text-anchor': 'end', 'dominant-baseline': 'middle' }, COMPACT.format(tick)));
    }
    const { ticks, step } = timeTicks(from, to, Math.max(2, Math.floor(inner.width / 72)));
    for (const tick of ticks) {
      const tx = x(tick);
      grid.append(svg('line', { class: 'chart-tick', x1: tx, x2: tx, y1: margin.top + inner.height, y2: margin.top + inner.height + 4 }));
      grid.append(svg('text', { class: 'chart-axis', x: tx, y: height - 8, 'text-anchor': 'middle' }, tickLabel(tick, step)));
    }
    grid.append(svg('line', { class: 'chart-baseline', x1: margin.left, x2: margin.left + inner.width, y1: y(0), y2: y(0) }));
    root.append(grid);

    if (points.length) {
      for (const kind of ['queries', 'blocked']) {
        const line = points.map((point, i) => `${i ? 'L' : 'M'}${mid(point).toFixed(1)},${y(point[kind]).toFixed(1)}`).join('');
        const area = `${line}L${mid(points.at(-1)).toFixed(1)},${y(0)}L${mid(points[0]).toFixed(1)},${y(0)}Z`;
        root.append(svg('path', { class: `chart-area chart-${kind}`, d: area }));
        root.append(svg('path', { class: `chart-line chart-${kind}`, d: line }));
      }
    }
    if (max === 0) {
      root.append(svg('text', { class: 'chart-empty', x: margin.left + inner.width / 2, y: margin.top + inner.height / 2, 'text-anchor': 'middle' },
        'No queries in this period'));
    }

    // The cursor: a line and two dots, placed by moveCursor.
    const line = svg('line', { class: 'chart-cursor', y1: margin.top, y2: margin.top + inner.height });
    const dots = ['queries', 'blocked'].map((kind) => svg('circle', { class: `chart-dot chart-${kind}`, r: 4 }));
    const group = svg('g', { class: 'chart-cursor-group', visibility: 'hidden' });
    group.append(line, ...dots);
    root.append(group);
    marks = { group, line, dots, mid, y };

    // A transparent rectangle catches the pointer over the whole plot area.
    const hit = svg('rect', { class: 'chart-hit', x: margin.left, y: margin.top, width: inner.width, height: inner.height });
    hit.addEventListener('pointermove', (event) => {
      const bounds = root.getBoundingClientRect();
      const time = from + ((event.clientX - bounds.left - margin.left) / inner.width) * (to - from);
      moveCursor(Math.floor((time - from) / size));
    });
    hit.addEventListener('pointerleave', () => moveCursor(null));
    root.append(hit);
    root.addEventListener('keydown', onKey);
    root.addEventListener('blur', () => moveCursor(null));
    plot.append(root);
    moveCursor(cursor);
  }

  function onKey(event) {
    if (!data?.points.length) return;
    const last = data.points.length - 1;
    const moves = {
      ArrowLeft: () => (cursor === null ? last : Math.max(0, cursor - 1)),
      ArrowRight: () => (cursor === null ? 0 : Math.min(last, cursor + 1)),
      Home: () => 0,
      End: () => last,
      Escape: () => null,
    };
    if (!(event.key in moves)) return;
    event.preventDefault();
    moveCursor(moves[event.key]());
  }

  function moveCursor(index) {
    cursor = index === null || !data?.points.length
      ? null
      : Math.min(data.points.length - 1, Math.max(0, index));
    if (marks) {
      if (cursor === null) marks.group.setAttribute('visibility', 'hidden');
      else {
        const point = data.points[cursor];
        const px = marks.mid(point);
        marks.line.setAttribute('x1', px);
        marks.line.setAttribute('x2', px);
        marks.dots.forEach((dot, i) => {
          dot.setAttribute('cx', px);
          dot.setAttribute('cy', marks.y(i === 0 ? point.queries : point.blocked));
        });
        marks.group.setAttribute('visibility', 'visible');
      }
    }
    showReadout();
  }

  return {
    update,
    dispose() {
      observer.disconnect();
    },
  };
}

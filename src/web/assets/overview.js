// overview.js — the overview page (/): the last 24 hours in numbers (/api/stats/summary),
// the queries-vs-blocked timeline (/api/stats/timeline) over a chosen range, and the top
// domains, blocked domains and clients (/api/stats/top), each linking to the query log
// filtered by it (a client that named itself shows as "name (address)" and links by its
// name). Refreshes itself every minute while the tab is visible.
//
// The `data-stat` elements hold only the number (the hooks of design.md §8), and are created
// only once the numbers have arrived, so that a reader of the hooks never sees a placeholder.

import {
  api, bar, emptyState, findRange, formatNumber, formatPercent, h, pageHeading, rangeChooser,
  secondsAgo, setQuery, share, showError,
} from './app.js';
import { timelineChart } from './chart.js';

export const title = 'Overview';

/** Bucket size per range: whole minutes (the API's rule), 60–96 buckets each. */
const BUCKETS = {
  '1h': { bucket: '1m', seconds: 60 },
  '24h': { bucket: '15m', seconds: 900 },
  '7d': { bucket: '2h', seconds: 7200 },
  '30d': { bucket: '12h', seconds: 43_200 },
};
const REFRESH_MS = 60_000;

/** The summary's numbers, in the order shown; `note` adds a line under the number. */
const STATS = [
  { key: 'queries', label: 'Queries' },
  { key: 'blocked', label: 'Blocked' },
  { key: 'blocked_percent', label: 'Blocked share', unit: '%' },
  { key: 'clients', label: 'Clients' },
  { key: 'cached', label: 'From cache', note: (s) => `${share(s.cached, s.queries)}% of queries` },
  { key: 'forwarded', label: 'Forwarded', note: (s) => `${share(s.forwarded, s.queries)}% of queries` },
  { key: 'failed', label: 'Failed' },
  { key: 'domains', label: 'Domains' },
];

/** The three top lists and where their entries link to (`item`: one of the API's items). */
const TOPS = [
  { kind: 'domains', title: 'Top domains', query: (item) => ({ domain: item.name }) },
  { kind: 'blocked', title: 'Top blocked domains', query: (item) => ({ domain: item.name, status: 'blocked' }) },
  {
    kind: 'clients',
    title: 'Top clients',
    // A device that named itself is found by its name; the address may be shared.
    query: (item) => (item.client_name ? { client_name: item.client_name } : { client: item.name }),
  },
];

function queriesLink(values) {
  return `/queries?${new URLSearchParams(values)}`;
}

export function mount(root, { params, signal }) {
  let range = findRange(params.get('range'));

  const stats = h('div', { class: 'stats', 'aria-busy': 'true' },
    STATS.map((stat) => h('div', { class: 'stat placeholder' },
      h('p', { class: 'stat-label', text: stat.label }),
      h('p', { class: 'stat-value', text: '…' }))));

  const chartError = h('div');
  const chartHolder = h('div', { class: 'chart-holder' });
  const chart = timelineChart(chartHolder);

  const topBoxes = TOPS.map((top) => ({ ...top, box: h('div', { class: 'top-body', text: 'Loading…' }) }));

  root.append(
    pageHeading('Overview', 'What hush answered in the last 24 hours.'),
    h('section', { class: 'panel', 'aria-labelledby': 'summary-title' },
      h('h2', { id: 'summary-title', class: 'visually-hidden', text: 'Last 24 hours in numbers' }),
      stats),
    h('section', { class: 'panel', 'aria-labelledby': 'timeline-title' },
      h('div', { class: 'panel-head' },
        h('h2', { id: 'timeline-title', text: 'Queries over time' }),
        rangeChooser('Time range of the chart', range.key, (next) => {
          range = next;
          setQuery({ range: next.key === '24h' ? '' : next.key }, { push: false });
          loadTimeline();
        })),
      chartError,
      chartHolder),
    h('div', { class: 'columns' },
      topBoxes.map((top) => h('section', { class: 'panel', 'aria-labelledby': `top-${top.kind}` },
        h('h2', { id: `top-${top.kind}`, text: top.title }),
        h('p', { class: 'muted small', text: 'Last 24 hours' }),
        top.box))));

  async function loadSummary() {
    try {
      // No range given: the API's default window is the last 24 hours.
      const summary = await api('/api/stats/summary', { signal });
      // Later refreshes change the numbers in place, so the hook elements stay the same nodes.
      if (stats.querySelector('[data-stat]')) updateStats(stats, summary);
      else stats.replaceChildren(...STATS.map((stat) => statCard(stat, summary)));
      stats.removeAttribute('aria-busy');
    } catch (error) {
      showError(stats, error, 'Could not load the summary', loadSummary);
    }
  }

  async function loadTimeline() {
    const { bucket, seconds } = BUCKETS[range.key];
    const asked = range;
    chartHolder.setAttribute('aria-busy', 'true');
    try {
      const answer = await api('/api/stats/timeline', {
        query: { bucket, from: secondsAgo(range.seconds) }, signal,
      });
      if (asked !== range) return; // another range was chosen meanwhile
      chartError.replaceChildren();
      chart.update(answer.buckets ?? [], seconds);
    } catch (error) {
      showError(chartError, error, 'Could not load the timeline', loadTimeline);
    } finally {
      chartHolder.removeAttribute('aria-busy');
    }
  }

  async function loadTop(top) {
    try {
      const answer = await api('/api/stats/top', {
        query: { kind: top.kind, limit: 10 }, signal,
      });
      top.box.replaceChildren(topList(answer.items ?? [], top));
    } catch (error) {
      showError(top.box, error, `Could not load ${top.title.toLowerCase()}`, () => loadTop(top));
    }
  }

  function loadAll() {
    loadSummary();
    loadTimeline();
    for (const top of topBoxes) loadTop(top);
  }

  loadAll();
  // Keep the page current while it is looked at; a hidden tab asks nothing.
  const timer = setInterval(() => {
    if (!document.hidden) loadAll();
  }, REFRESH_MS);

  return () => {
    clearInterval(timer);
    chart.dispose();
  };
}

function statText(stat, summary) {
  const value = summary[stat.key];
  return stat.key === 'blocked_percent' ? formatPercent(value) : formatNumber(value);
}

function statCard(stat, summary) {
  return h('div', { class: `stat stat-${stat.key}` },
    h('p', { class: 'stat-label', text: stat.label }),
    h('p', { class: 'stat-value' },
      h('span', { dataset: { stat: stat.key }, text: statText(stat, summary) }),
      stat.unit ? h('span', { class: 'unit', text: stat.unit }) : null),
    stat.note ? h('p', { class: 'stat-note', dataset: { note: stat.key }, text: stat.note(summary) }) : null);
}

function updateStats(stats, summary) {
  for (const stat of STATS) {
    const value = stats.querySelector(`[data-stat="${stat.key}"]`);
    if (value) value.textContent = statText(stat, summary);
    const note = stats.querySelector(`[data-note="${stat.key}"]`);
    if (note) note.textContent = stat.note(summary);
  }
}

function topList(items, top) {
  if (!items.length) return emptyState('Nothing yet.');
  const most = Math.max(...items.map((item) => item.count));
  return h('ol', { class: 'toplist' }, items.map((item) => h('li', {},
    h('a', { href: queriesLink(top.query(item)), class: 'toplist-name' }, topName(item)),
    h('span', { class: 'toplist-count', text: formatNumber(item.count) }),
    bar(item.count, most, top.kind === 'blocked' ? 'blocked' : ''))));
}

/** An entry's name; a named client's as "name (address)", the address muted. */
function topName(item) {
  if (!item.client_name) return item.name;
  return [item.client_name, h('span', { class: 'toplist-address', text: ` (${item.name})` })];
}

// lists.js — the lists page (/lists): every block list and allowlist hush loaded
// (GET /api/lists) with its counts, last update and error, and a "Refresh lists" button
// (POST /api/lists/refresh, which answers the lists as they are after the refresh).
// A list with an error is called out above the table as well as marked in its row: a list
// that failed to download silently blocks nothing new.

import {
  announce, api, emptyState, errorBox, formatNumber, formatRelative, h, isQuiet,
  pageHeading, parseTime, showError, tableWrap, timeElement,
} from './app.js';

export const title = 'Lists';

const COLUMNS = [
  { name: 'List' }, { name: 'Kind' }, { name: 'Category' },
  { name: 'Entries', numeric: true }, { name: 'Skipped', numeric: true },
  { name: 'Unsupported', numeric: true }, { name: 'Invalid', numeric: true },
  { name: 'Updated' }, { name: 'Status' },
];

export function mount(root, { signal }) {
  const summary = h('p', { class: 'muted', 'aria-live': 'polite' });
  const problems = h('div');
  const refreshError = h('div');
  const content = h('div', { 'aria-busy': 'true', text: 'Loading…' });
  const progress = h('span', { class: 'progress', hidden: true },
    h('progress', { 'aria-label': 'Refreshing lists' }), ' Downloading and reading the lists…');
  const refreshButton = h('button', { type: 'button', class: 'button primary', text: 'Refresh lists', onclick: refresh });

  root.append(
    pageHeading('Lists', 'The block lists and allowlists hush reads, with what it made of each.'),
    h('div', { class: 'toolbar' }, summary, h('div', { class: 'toolbar-actions' }, progress, refreshButton)),
    refreshError,
    problems,
    h('section', { class: 'panel', 'aria-label': 'Lists' }, content));

  function show(answer) {
    const items = answer?.lists ?? [];
    const entries = items.reduce((sum, item) => sum + (item.entries ?? 0), 0);
    const failing = items.filter((item) => item.error);
    summary.textContent = `${items.length === 1 ? '1 list' : `${items.length} lists`}, ${formatNumber(entries)} entries.`;
    problems.replaceChildren(...(failing.length ? [h('div', { class: 'error-box', role: 'alert' },
      h('p', {}, h('strong', { text: failing.length === 1 ? 'One list has a problem:' : `${failing.length} lists have problems:` })),
      h('ul', {}, failing.map((item) => h('li', {}, h('strong', { text: item.name ?? item.source }), `: ${item.error}`))))] : []));
    content.replaceChildren(items.length ? listTable(items) : emptyState('No lists are configured (blocking.lists and blocking.allowlists are empty).'));
    content.removeAttribute('aria-busy');
    return { items, entries, failing };
  }

  async function load() {
    try {
      show(await api('/api/lists', { signal }));
    } catch (error) {
      showError(content, error, 'Could not load the lists', load);
      content.removeAttribute('aria-busy');
    }
  }

  async function refresh() {
    refreshButton.disabled = true;
    refreshButton.textContent = 'Refreshing…';
    progress.hidden = false;
    content.setAttribute('aria-busy', 'true');
    refreshError.replaceChildren();
    try {
      const { items, entries, failing } = show(await api('/api/lists/refresh', { method: 'POST', signal }));
      const problemsText = failing.length ? `; ${failing.length} with errors (see above)` : '';
      announce(`Lists refreshed: ${items.length} lists, ${formatNumber(entries)} entries${problemsText}.`,
        failing.length ? 'error' : 'success');
    } catch (error) {
      // The box is an alert: screen readers hear it without a status-line message too.
      if (!isQuiet(error)) refreshError.replaceChildren(errorBox(error, 'The refresh failed'));
      content.removeAttribute('aria-busy');
    } finally {
      refreshButton.disabled = false;
      refreshButton.textContent = 'Refresh lists';
      progress.hidden = true;
    }
  }

  load();
  return null;
}

function listTable(items) {
  return tableWrap(h('table', { class: 'data lists-table' },
    h('caption', { class: 'visually-hidden', text: 'Lists and their counts' }),
    h('thead', {}, h('tr', {}, COLUMNS.map((column) => h('th', {
      scope: 'col', class: column.numeric ? 'num' : null, text: column.name,
    })))),
    h('tbody', {}, items.map(listRow))), 'Lists table');
}

function listRow(item) {
  const updated = parseTime(item.updated);
  return h('tr', { class: item.error ? 'has-error' : null },
    h('th', { scope: 'row', class: 'list-name' },
      h('span', { text: item.name ?? item.source }),
      // The source is a path or URL: shown as text, never made a link (it is not ours to vouch for).
      item.source && item.source !== item.name ? h('span', { class: 'subtext source', text: item.source }) : null),
    h('td', {}, h('span', { class: `badge badge-${item.kind === 'allow' ? 'allow' : 'block'}`, text: item.kind })),
    h('td', { text: item.category ?? '–' }),
    ...['entries', 'skipped', 'unsupported', 'invalid'].map((key) => h('td', { class: 'num', text: formatNumber(item[key]) })),
    h('td', { class: 'nowrap' },
      updated
        ? [timeElement(updated, { seconds: false }), h('span', { class: 'subtext', text: formatRelative(updated) })]
        : h('span', { class: 'muted', text: 'never' })),
    h('td', { class: item.error ? 'list-error' : '' },
      item.error ? [h('strong', { text: 'Error: ' }), item.error] : h('span', { class: 'ok', text: 'OK' })));
}

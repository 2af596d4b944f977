// queries.js — the query log page (/queries), over /api/queries: a filter form (client
// address, device name, domain, status, type, protocol, server, from/to) mirrored in the URL's query
// string, a table with one `<tr data-query-id>` per query saying who asked (device name and
// address), over which protocol, and why it was blocked, an Allow/Block button per row
// (POST /api/rules), "Older" paging with the `next` cursor, and a follow mode that polls for
// rows newer than the newest shown.
//
// The URL keeps the filters as the user typed them (from/to as local "YYYY-MM-DDTHH:MM");
// only the request to the API turns times into Unix seconds. Links such as
// /queries?client=1.2.3.4, /queries?client_name=mia-phone or /queries?domain=x (from the
// overview and devices pages) open this page filtered; Unix seconds and RFC 3339 are accepted
// for from/to in links as well.

import {
  ApiError, STATUSES, announce, announceError, api, errorBox, field, formatMicros, h, isQuiet,
  pageHeading, parseTime, setQuery, statusBadge, tableWrap, timeElement,
} from './app.js';

export const title = 'Queries';

/** Suggestions for the type field; any type name the API knows may be typed. */
const TYPES = ['A', 'AAAA', 'HTTPS', 'SVCB', 'CNAME', 'MX', 'TXT', 'PTR', 'SRV', 'NS', 'SOA', 'CAA', 'DS', 'DNSKEY', 'ANY'];
/** The protocols a query can come over (src/dns/arrival.rs, `Protocol`): the API's name, the
 * short label shown in a row, the long name for the filter and tooltips, and whether the
 * query was encrypted on its way to hush. */
const PROTOCOLS = [
  { name: 'udp', short: 'UDP', long: 'plain DNS over UDP', encrypted: false },
  { name: 'tcp', short: 'TCP', long: 'plain DNS over TCP', encrypted: false },
  { name: 'tls', short: 'DoT', long: 'DNS over TLS', encrypted: true },
  { name: 'https', short: 'DoH', long: 'DNS over HTTPS', encrypted: true },
];
const FILTERS = ['client', 'client_name', 'domain', 'status', 'type', 'protocol', 'instance', 'from', 'to'];
const PAGE_SIZE = 100;
/** Rows asked for per follow poll; more new rows than this in 2 s leaves a marked gap. */
const FOLLOW_LIMIT = 200;
const FOLLOW_MS = 2000;
/** Follow mode drops the oldest rows beyond this many, so a long watch stays light. */
const MAX_ROWS = 500;
const COLUMNS = ['Time', 'Client', 'Protocol', 'Domain', 'Type', 'Status', 'Details', 'Action'];

function pad(number) {
  return String(number).padStart(2, '0');
}

/** A Date as a datetime-local input value, in local time. */
function localInputValue(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/** A from/to value from the URL → the input's value; '' when unreadable. */
function inputTime(text) {
  if (!text) return '';
  if (/^\d+$/.test(text)) return localInputValue(new Date(Number(text) * 1000));
  // A time without a zone is the browser's local time (as the input means it).
  if (/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(text)) return text;
  const date = parseTime(text);
  return date ? localInputValue(date) : '';
}

/** A datetime-local value → Unix seconds for the API (the value is local time). */
function unixSeconds(value) {
  const time = new Date(value).getTime();
  return Number.isNaN(time) ? null : Math.floor(time / 1000);
}

function queriesLink(values) {
  return `/queries?${new URLSearchParams(values)}`;
}

export function mount(root, { params, signal }) {
  /** The applied filters, as in the URL. */
  let filters = Object.fromEntries(FILTERS.map((name) => [name, (params.get(name) ?? '').trim()]));
  filters.from = inputTime(filters.from);
  filters.to = inputTime(filters.to);

  const state = {
    newest: null, // the greatest id shown: follow mode adds rows above it
    next: null, // the `before` cursor of the next older page
    generation: 0, // bumped by each new load, so late answers of older loads are dropped
    following: false,
    timer: null,
    pollFailed: false,
  };

  const form = filterForm(filters);
  const errorArea = h('div');
  const tbody = h('tbody');
  const table = h('table', { class: 'data queries-table' },
    h('caption', { class: 'visually-hidden', text: 'Queries, newest first' }),
    h('thead', {}, h('tr', {}, COLUMNS.map((name) => h('th', { scope: 'col', text: name })))),
    tbody);
  const info = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const followButton = h('button', {
    type: 'button', class: 'button follow', 'aria-pressed': 'false', text: 'Follow',
    title: 'Show new queries as they arrive', onclick: () => (state.following ? stopFollow() : startFollow()),
  });
  const olderButton = h('button', { type: 'button', class: 'button', hidden: true, text: 'Older queries', onclick: loadOlder });

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const data = new FormData(form);
    filters = Object.fromEntries(FILTERS.map((name) => [name, String(data.get(name) ?? '').trim()]));
    setQuery(filters);
    load();
  });
  form.querySelector('[data-action="clear"]').addEventListener('click', () => {
    // Cleared by hand: a reset would restore the values the page was opened with.
    for (const name of FILTERS) form.elements[name].value = '';
    form.requestSubmit();
  });

  root.append(
    pageHeading('Queries', 'Every question the network asked, newest first. Filter it, follow it live, and allow or block a name from its row.'),
    h('section', { class: 'panel', 'aria-label': 'Filters' }, form),
    h('section', { class: 'panel', 'aria-label': 'Query log' },
      h('div', { class: 'toolbar' }, info, followButton),
      errorArea,
      tableWrap(table, 'Query log table'),
      h('div', { class: 'toolbar end' }, olderButton)));

  /** The applied filters as API parameters; throws on an unreadable time. */
  function apiFilters() {
    const query = {
      client: filters.client,
      client_name: filters.client_name,
      domain: filters.domain,
      status: filters.status,
      type: filters.type,
      protocol: filters.protocol,
      instance: filters.instance,
    };
    for (const name of ['from', 'to']) {
      if (!filters[name]) continue;
      const seconds = unixSeconds(filters[name]);
      if (seconds === null) throw new ApiError(400, `the "${name}" time is not a date and time`);
      query[name] = seconds;
    }
    return query;
  }

  function describe() {
    const count = tbody.querySelectorAll('tr[data-query-id]').length;
    const shown = count === 1 ? '1 query' : `${count} queries`;
    info.textContent = `Showing ${shown}${state.following ? ', following new ones' : ''}.`;
  }

  function showEmpty() {
    tbody.replaceChildren(h('tr', { class: 'empty-row' },
      h('td', { colspan: COLUMNS.length, text: 'No queries match these filters.' })));
  }

  async function load() {
    const generation = ++state.generation;
    errorArea.replaceChildren();
    table.setAttribute('aria-busy', 'true');
    info.textContent = 'Loading…';
    try {
      const answer = await api('/api/queries', { query: { ...apiFilters(), limit: PAGE_SIZE }, signal });
      if (generation !== state.generation) return;
      const rows = answer.queries ?? [];
      if (rows.length) tbody.replaceChildren(...rows.map((row) => rowElement(row, false)));
      else showEmpty();
      state.newest = rows.length ? rows[0].id : null;
      setNext(answer.next);
    } catch (error) {
      if (generation !== state.generation || isQuiet(error)) return;
      tbody.replaceChildren();
      state.newest = null;
      setNext(null);
      errorArea.replaceChildren(errorBox(error, 'Could not load queries', load));
    } finally {
      if (generation === state.generation) {
        table.removeAttribute('aria-busy');
        describe();
      }
    }
  }

  async function loadOlder() {
    const generation = state.generation;
    olderButton.disabled = true;
    try {
      const answer = await api('/api/queries', {
        query: { ...apiFilters(), limit: PAGE_SIZE, before: state.next }, signal,
      });
      if (generation !== state.generation) return;
      const known = lowestShownId();
      // Only rows below the oldest shown: follow mode may have trimmed and moved the cursor.
      const rows = (answer.queries ?? []).filter((row) => known === null || row.id < known);
      tbody.append(...rows.map((row) => rowElement(row, false)));
      setNext(answer.next);
      describe();
    } catch (error) {
      announceError(error, 'Could not load older queries');
    } finally {
      olderButton.disabled = false;
    }
  }

  function setNext(next) {
    state.next = next ?? null;
    olderButton.hidden = state.next === null;
  }

  function lowestShownId() {
    const last = [...tbody.querySelectorAll('tr[data-query-id]')].at(-1);
    return last ? Number(last.dataset.queryId) : null;
  }

  // Follow mode: every 2 s ask for the newest rows with the same filters and put those with
  // an id above the newest shown on top. Ids grow with insertion, so "greater id" is "newer".
  function startFollow() {
    state.following = true;
    state.pollFailed = false;
    followButton.setAttribute('aria-pressed', 'true');
    followButton.textContent = 'Following';
    describe();
    poll();
  }

  function stopFollow() {
    state.following = false;
    clearTimeout(state.timer);
    state.timer = null;
    followButton.setAttribute('aria-pressed', 'false');
    followButton.textContent = 'Follow';
    describe();
  }

  async function poll() {
    clearTimeout(state.timer);
    const generation = state.generation;
    // A hidden tab asks nothing; it catches up on the next poll once visible.
    if (!document.hidden) {
      try {
        const answer = await api('/api/queries', { query: { ...apiFilters(), limit: FOLLOW_LIMIT }, signal });
        if (state.following && generation === state.generation) addNewRows(answer);
        state.pollFailed = false;
      } catch (error) {
        if (isQuiet(error)) return;
        // Say it once, then keep trying quietly: a restart of hush should not flood the page.
        if (!state.pollFailed) announceError(error, 'Follow mode could not fetch new queries (still trying)');
        state.pollFailed = true;
      }
    }
    if (state.following) state.timer = setTimeout(poll, FOLLOW_MS);
  }

  function addNewRows(answer) {
    const rows = answer.queries ?? [];
    const wasEmpty = state.newest === null;
    const fresh = wasEmpty ? rows : rows.filter((row) => row.id > state.newest);
    if (!fresh.length) return;
    tbody.querySelector('.empty-row')?.remove();
    const elements = fresh.map((row) => rowElement(row, true));
    // Every row of the answer is new and there are more: some arrived that are not shown.
    if (!wasEmpty && answer.next !== null && answer.next !== undefined && fresh.length === rows.length) {
      elements.push(h('tr', { class: 'gap-row' }, h('td', {
        colspan: COLUMNS.length,
        text: 'More queries arrived than can be shown here. Press "Apply filters" to reload the list.',
      })));
    }
    tbody.prepend(...elements);
    state.newest = fresh[0].id;
    if (wasEmpty) setNext(answer.next);
    trim();
    describe();
  }

  /** Drops the oldest rows beyond MAX_ROWS; "Older" then continues from the oldest kept. */
  function trim() {
    const rows = tbody.querySelectorAll('tr[data-query-id]');
    if (rows.length <= MAX_ROWS) return;
    for (const row of [...rows].slice(MAX_ROWS)) row.remove();
    while (tbody.lastElementChild && !tbody.lastElementChild.dataset.queryId) tbody.lastElementChild.remove();
    setNext(String(lowestShownId()));
  }

  load();
  return () => {
    state.following = false;
    clearTimeout(state.timer);
  };
}

/** The filter form, filled from `filters`. */
function filterForm(filters) {
  const client = h('input', {
    name: 'client', type: 'text', value: filters.client, placeholder: 'e.g. 192.168.1.23',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
  });
  // Checked by the server (400 with its reason, shown above the table), like the address.
  const clientName = h('input', {
    name: 'client_name', type: 'text', value: filters.client_name, placeholder: 'e.g. mia-phone',
    maxlength: '63', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
  });
  const domain = h('input', {
    name: 'domain', type: 'search', value: filters.domain, placeholder: 'e.g. doubleclick',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
  });
  const status = h('select', { name: 'status' },
    h('option', { value: '', text: 'Any status' }),
    STATUSES.map((name) => h('option', { value: name, text: name, selected: name === filters.status })));
  const protocol = h('select', { name: 'protocol' },
    h('option', { value: '', text: 'Any protocol' }),
    PROTOCOLS.map((known) => h('option', {
      value: known.name,
      text: known.encrypted ? `${known.short} (${known.long})` : known.short,
      selected: known.name === filters.protocol,
    })));
  const type = h('input', {
    name: 'type', type: 'text', value: filters.type, list: 'query-types', placeholder: 'e.g. AAAA',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', size: '8',
  });
  // Several hush instances may share one history (querylog.instance names each).
  const instance = h('input', {
    name: 'instance', type: 'text', value: filters.instance, placeholder: 'e.g. dns1',
    maxlength: '64', autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
  });
  const from = h('input', { name: 'from', type: 'datetime-local', value: filters.from });
  const to = h('input', { name: 'to', type: 'datetime-local', value: filters.to });
  return h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter queries' },
    h('div', { class: 'filter-grid' },
      field('Client', client, 'IP address'),
      field('Device name', clientName, 'Its own name, given over DoT or DoH'),
      field('Domain', domain, 'Any part of the name'),
      field('Status', status),
      field('Type', type),
      field('Protocol', protocol),
      field('Server', instance, 'The hush that answered'),
      wide(field('From', from)),
      wide(field('To', to))),
    h('datalist', { id: 'query-types' }, TYPES.map((name) => h('option', { value: name }))),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'button primary', text: 'Apply filters' }),
      h('button', { type: 'button', class: 'button', dataset: { action: 'clear' }, text: 'Clear' })));
}

function wide(element) {
  element.classList.add('wide');
  return element;
}

function rowElement(row, fresh) {
  // Only known statuses become a class name: the text came from the network.
  const known = STATUSES.includes(row.status) ? `status-${row.status}` : 'status-unknown';
  const classes = [known, fresh ? 'fresh' : ''].join(' ').trim();
  return h('tr', { class: classes, dataset: { queryId: String(row.id) } },
    h('td', { class: 'nowrap' }, timeElement(parseTime(row.time))),
    h('td', { class: 'client' }, clientCell(row)),
    h('td', { class: 'nowrap' }, protocolTag(row.protocol), serverLink(row.instance)),
    h('td', { class: 'domain' },
      h('a', { href: queriesLink({ domain: row.domain }), title: `Only queries for names containing ${row.domain}`, text: row.domain })),
    h('td', { text: row.type }),
    h('td', {}, statusBadge(row.status)),
    h('td', { class: 'why' }, details(row)),
    h('td', { class: 'actions' }, ruleButton(row)));
}

/** Who asked: a named device's name (filters by name) over its address (filters by address);
 * an unnamed one's address alone. */
function clientCell(row) {
  const address = h('a', {
    href: queriesLink({ client: row.client }), class: 'client-address',
    title: `Only queries from ${row.client}`, text: row.client,
  });
  if (!row.client_name) return address;
  return [
    h('a', {
      href: queriesLink({ client_name: row.client_name }), class: 'client-name',
      title: `Only queries of the device ${row.client_name}`, text: row.client_name,
    }),
    h('span', { class: 'subtext' }, address),
  ];
}

/** The hush that answered (its `querylog.instance`), linking to its queries. */
function serverLink(instance) {
  if (!instance) return null;
  return h('span', { class: 'subtext' }, h('a', {
    href: queriesLink({ instance }), class: 'server', title: `Only queries answered by ${instance}`,
    text: instance,
  }));
}

/** The protocol the query came over, short ("DoT"), linking to the queries over it. */
function protocolTag(name) {
  const known = PROTOCOLS.find((protocol) => protocol.name === name);
  if (!known) {
    // Missing (an older server) or one this page does not know yet: its text, no link.
    return name
      ? h('span', { class: 'proto', text: String(name).toUpperCase() })
      : h('span', { class: 'muted', text: '–' });
  }
  return h('a', {
    href: queriesLink({ protocol: known.name }),
    class: `proto${known.encrypted ? ' encrypted' : ''}`,
    title: `Only queries over ${known.long}`,
    'aria-label': `${known.short}, ${known.long}`,
    text: known.short,
  });
}

/** Why the query ended as it did: the blocking rule and list, or where the answer came from. */
function details(row) {
  const rcode = row.rcode && row.rcode !== 'NOERROR' ? h('span', { class: 'rcode', text: row.rcode }) : null;
  const took = h('span', { class: 'muted', text: formatMicros(row.duration_us) });
  if (row.status === 'blocked') {
    return [
      'Rule ', h('code', { text: row.rule ?? '?' }),
      ' from ', h('strong', { text: row.list ?? 'an unknown list' }),
      row.category ? h('span', { class: 'chip', text: row.category }) : null,
      row.group ? h('span', { class: 'chip group', text: `group ${row.group}` }) : null,
    ];
  }
  const source = row.status === 'cached' ? 'from cache'
    : row.status === 'local' ? 'from local records'
      : row.upstream ? `via ${row.upstream}` : null;
  return joined([source ? h('span', { text: source }) : null, rcode, took]);
}

function joined(parts) {
  const kept = parts.filter(Boolean);
  return kept.flatMap((part, i) => (i ? [' · ', part] : [part]));
}

/** "Allow" on a blocked row, "Block" on any other: adds a custom rule for the row's name. */
function ruleButton(row) {
  const kind = row.status === 'blocked' ? 'allow' : 'deny';
  const verb = kind === 'allow' ? 'Allow' : 'Block';
  const button = h('button', {
    type: 'button', class: `button small ${kind === 'allow' ? 'allow' : 'deny'}`,
    'aria-label': `${verb} ${row.domain}`, text: verb,
    onclick: () => addRule(button, kind, row.domain),
  });
  return button;
}

async function addRule(button, kind, domain) {
  button.disabled = true;
  try {
    await api('/api/rules', { method: 'POST', body: { kind, domain, comment: 'from the query log' } });
    const done = kind === 'allow' ? 'Allowed' : 'Blocked';
    announce(`${done} ${domain} and its subdomains. The rule applies now; delete it on the Rules page to undo.`, 'success');
    button.textContent = done;
    button.setAttribute('aria-label', `${done} ${domain}`);
  } catch (error) {
    button.disabled = false;
    if (error.status === 409) {
      announce(`${kind === 'allow' ? 'An allow' : 'A block'} rule for ${domain} already exists.`, 'info');
    } else {
      announceError(error, `Could not ${kind === 'allow' ? 'allow' : 'block'} ${domain}`);
    }
  }
}

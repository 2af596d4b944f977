// devices.js — the devices page (/devices): "who phones home", from /api/report/clients.
// One card per client (`data-client="<address>"`, holding `data-stat="blocked"`), most
// blocked first: its blocked count and share, the server's headline sentence, its notes (one
// per vendor whose telemetry it tried, `li.note-vendor`, and the public encrypted resolvers it
// tried, `li.note-bypass`, in `ul.device-notes`), its blocked queries by list category and by
// list as bars, its [[clients]] entry and groups (`p.device-groups`, `data-groups`), and
// links to its queries. The range is a
// choice (default the last 24 hours) kept in the URL as ?range=.
//
// A device that named itself (over DoT or DoH) is a client of its own: its card is titled
// with the name, the address under it, carries `data-client-name="<name>"` as well, and links
// to /queries?client_name=<name>. The same address may also have a card without a name (the
// queries from it that gave none).

import {
  api, bar, emptyState, findRange, formatNumber, h, pageHeading, rangeChooser, secondsAgo,
  setQuery, share, showError,
} from './app.js';

export const title = 'Devices';

function queriesLink(values) {
  return `/queries?${new URLSearchParams(values)}`;
}

export function mount(root, { params, signal }) {
  let range = findRange(params.get('range'));
  const heading = h('p', { class: 'muted', 'aria-live': 'polite' });
  const list = h('div', { class: 'devices', 'aria-busy': 'true', text: 'Loading…' });

  root.append(
    pageHeading('Devices', 'Who phones home: for each device, how many of its queries were blocked, and by which kinds of list.'),
    h('div', { class: 'panel-head bare' },
      heading,
      rangeChooser('Time range', range.key, (next) => {
        range = next;
        setQuery({ range: next.key === '24h' ? '' : next.key }, { push: false });
        load();
      })),
    list);

  async function load() {
    const asked = range;
    list.setAttribute('aria-busy', 'true');
    try {
      const answer = await api('/api/report/clients', { query: { from: secondsAgo(range.seconds) }, signal });
      if (asked !== range) return;
      // The API sorts already; sorting again keeps the promise of this page if it ever stops.
      const clients = [...(answer.clients ?? [])].sort((a, b) => b.blocked - a.blocked);
      heading.textContent = clients.length
        ? `${clients.length === 1 ? '1 device' : `${formatNumber(clients.length)} devices`} in ${range.long}, most blocked first.`
        : '';
      // Addresses that also have a named device: their unnamed card says it is the rest.
      const shared = new Set(clients.filter((client) => client.client_name).map((client) => client.client));
      list.replaceChildren(...(clients.length
        ? clients.map((client, index) => deviceCard(client, index, shared))
        : [emptyState(`No device asked anything in ${range.long}.`)]));
    } catch (error) {
      if (asked === range) showError(list, error, 'Could not load the devices', load);
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  load();
  return null;
}

function deviceCard(client, index, shared) {
  const id = `device-${index}`;
  const name = client.client_name || null;
  // A named device's queries are found by its name, an unnamed one's by its address.
  const filter = name ? { client_name: name } : { client: client.client };
  const who = name ? `${name} (${client.client})` : client.client;
  const dataset = name ? { client: client.client, clientName: name } : { client: client.client };
  return h('article', { class: `panel device${name ? ' named' : ''}`, dataset, 'aria-labelledby': id },
    h('header', { class: 'device-head' },
      name
        ? h('h2', { id }, name, h('span', { class: 'subtext device-address', text: client.client }))
        : h('h2', { id },
          client.client,
          shared.has(client.client) ? h('span', { class: 'subtext', text: 'queries without a device name' }) : null),
      h('a', {
        href: queriesLink(filter), class: 'button small', text: 'Queries',
        'aria-label': `Queries of ${who}`,
      })),
    // Its [[clients]] entry and groups, when the config gives it any but `default`.
    client.client_entry || (client.groups ?? []).some((group) => group !== 'default')
      ? h('p', { class: 'device-groups subtext', dataset: { groups: (client.groups ?? []).join(',') } },
        client.client_entry ? h('strong', { class: 'device-entry', text: client.client_entry }) : null,
        client.client_entry ? ' · ' : null,
        `groups: ${(client.groups ?? []).join(', ') || 'none'}`)
      : null,
    h('p', { class: 'device-count' },
      h('span', { class: 'big', dataset: { stat: 'blocked' }, text: formatNumber(client.blocked) }),
      ` blocked of ${formatNumber(client.queries)} queries (${share(client.blocked, client.queries)}%)`),
    bar(client.blocked, client.queries, 'blocked'),
    h('p', { class: 'headline', text: client.headline ?? '' }),
    // The server's lines on vendor telemetry and encrypted-DNS attempts, one per vendor.
    client.notes?.length
      ? h('ul', { class: 'device-notes' }, client.notes.map((note) => h('li', {
        class: note.startsWith('tried to use') ? 'note-bypass' : 'note-vendor', text: note,
      })))
      : null,
    client.blocked > 0
      ? h('div', { class: 'breakdowns' },
        breakdown('By category', client.by_category ?? [], (item) => item.category, client.blocked),
        breakdown('By list', client.by_list ?? [], (item) => item.list, client.blocked))
      : null,
    client.blocked > 0
      ? h('p', { class: 'small' }, h('a', {
        href: queriesLink({ ...filter, status: 'blocked' }), text: 'Its blocked queries',
      }))
      : null);
}

/** A titled list of name, count and a bar for the count's share of the device's blocked. */
function breakdown(title, items, nameOf, total) {
  return h('section', { class: 'breakdown' },
    h('h3', { text: title }),
    items.length
      ? h('ul', { class: 'share-list' }, items.map((item) => h('li', {},
        h('span', { class: 'share-name', text: nameOf(item) }),
        h('span', { class: 'share-count', text: `${formatNumber(item.blocked)} · ${share(item.blocked, total)}%` }),
        bar(item.blocked, total, 'blocked'))))
      : emptyState('None recorded.'));
}

// app.js — the dashboard's core, loaded by index.html as the one module entry point.
//
// Owns: the API client (cookies, CSRF header, errors, 401 → login), the login and log-out
// flow, the router (history.pushState; the pathname picks the page module), the blocking
// switch in the header, the status line, and the small helpers every page shares: DOM
// building, number and time formatting, the range chooser, error and empty states.
//
// Page modules import helpers from here and app.js imports the page modules. That cycle is
// safe: pages only call these functions from inside their own functions, never while the
// modules are still being evaluated, and every export here is a hoisted declaration.
//
// Every string that came from the network (domain names, list names, error texts) is put
// into the page as text (textContent / text nodes), never parsed as HTML.

import * as overview from './overview.js';
import * as queries from './queries.js';
import * as devices from './devices.js';
import * as lists from './lists.js';
import * as rules from './rules.js';

/** The pages, by pathname. `nav` names the `data-nav` link that is marked current. */
const PAGES = new Map([
  ['/', { module: overview, nav: 'overview' }],
  ['/queries', { module: queries, nav: 'queries' }],
  ['/devices', { module: devices, nav: 'devices' }],
  ['/lists', { module: lists, nav: 'lists' }],
  ['/rules', { module: rules, nav: 'rules' }],
]);

const AUTH_PATH = '/api/auth';
/** How often the blocking switch asks the server for its state. */
const SWITCH_POLL_MS = 10_000;
/** How long an informational message stays in the status line. */
const NOTICE_MS = 8_000;

// ---------------------------------------------------------------------------------------
// DOM helpers

/**
 * Creates an element. `props`: `class`, `text`, `dataset` (object), `on<event>` (listener),
 * `value`/`checked` (set as properties), anything else as an attribute (true → present,
 * false/null/undefined → left out). Children: nodes, strings (as text), arrays, null.
 * There is deliberately no way to pass HTML or a style attribute (the CSP forbids inline
 * styles; sizes are set through `element.style` by the callers that need them).
 */
export function h(tag, props = {}, ...children) {
  const element = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') element.className = value;
    else if (key === 'text') element.textContent = String(value);
    else if (key === 'dataset') Object.assign(element.dataset, value);
    else if (key === 'value' || key === 'checked') element[key] = value;
    else if (key.startsWith('on') && typeof value === 'function') {
      element.addEventListener(key.slice(2), value);
    } else element.setAttribute(key, value === true ? '' : String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** A labelled form field: `<label>` + control, wired by id. */
let fieldCount = 0;
export function field(labelText, control, hint) {
  fieldCount += 1;
  control.id ||= `field-${fieldCount}`;
  let hintElement = null;
  if (hint) {
    hintElement = h('small', { class: 'hint', id: `${control.id}-hint`, text: hint });
    control.setAttribute('aria-describedby', hintElement.id);
  }
  return h('div', { class: 'field' },
    h('label', { for: control.id, text: labelText }), control, hintElement);
}

/** A table inside a container that scrolls sideways on narrow screens. */
export function tableWrap(table, label) {
  // Focusable and labelled so that keyboard users can scroll it too.
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': label }, table);
}

/** The page heading; it takes focus after a navigation so screen readers announce it. */
export function pageHeading(text, intro) {
  return h('header', { class: 'page-header' },
    h('h1', { tabindex: '-1', text }),
    intro ? h('p', { class: 'muted intro', text: intro }) : null);
}

export function emptyState(text) {
  return h('p', { class: 'empty', text });
}

/** Requests cancelled because the page was left, and 401s (the login view is already up),
 * need no message of their own. */
export function isQuiet(error) {
  return error?.name === 'AbortError' || error?.status === 401;
}

/** An error shown in place of content, with the server's own words and an optional retry. */
export function errorBox(error, what, retry) {
  const box = h('div', { class: 'error-box', role: 'alert' },
    h('p', {}, h('strong', { text: what ? `${what}: ` : 'Error: ' }), errorText(error)));
  if (retry) box.append(h('button', { type: 'button', class: 'button', text: 'Try again', onclick: retry }));
  return box;
}

/** Puts an error box into `container` unless the error needs none; returns whether it did. */
export function showError(container, error, what, retry) {
  if (isQuiet(error)) return false;
  container.replaceChildren(errorBox(error, what, retry));
  return true;
}

export function errorText(error) {
  if (error instanceof ApiError) return error.message;
  return error?.message ? `unexpected problem in the page (${error.message})` : String(error);
}

/** A horizontal bar whose filled share is `part / whole`, sized through the CSSOM. */
export function bar(part, whole, kind = '') {
  const fill = h('span', { class: `bar-fill ${kind}` });
  const share = whole > 0 ? Math.min(1, Math.max(0, part / whole)) : 0;
  // At least a sliver for non-zero counts, so that small shares stay visible.
  fill.style.width = `${part > 0 ? Math.max(share * 100, 1.5) : 0}%`;
  return h('span', { class: 'bar', 'aria-hidden': 'true' }, fill);
}

/** Every status the API writes (src/dns/outcome.rs, `Status`); each has a badge colour in
 * style.css. `local`: answered from the house's own local records. */
export const STATUSES = ['forwarded', 'cached', 'blocked', 'refused', 'failed', 'local'];

/** A status badge; a status this page does not know yet (a newer server) gets a neutral
 * badge with its own text. */
export function statusBadge(status) {
  const known = STATUSES.includes(status);
  const text = typeof status === 'string' && status ? status : 'unknown';
  return h('span', { class: `badge badge-${known ? status : 'unknown'}`, text });
}

// ---------------------------------------------------------------------------------------
// Time ranges shared by the overview and the devices page

/** The range choices: `seconds` back from now. */
export const RANGES = [
  { key: '1h', label: '1 h', long: 'the last hour', seconds: 3_600 },
  { key: '24h', label: '24 h', long: 'the last 24 hours', seconds: 86_400 },
  { key: '7d', label: '7 d', long: 'the last 7 days', seconds: 7 * 86_400 },
  { key: '30d', label: '30 d', long: 'the last 30 days', seconds: 30 * 86_400 },
];

export function findRange(key, fallback = '24h') {
  return RANGES.find((range) => range.key === key) ?? RANGES.find((range) => range.key === fallback);
}

/** Unix seconds `seconds` ago: the API's `from`. */
export function secondsAgo(seconds) {
  return Math.floor(Date.now() / 1000) - seconds;
}

/** A row of toggle buttons (aria-pressed) for the ranges; calls `onChange(range)`. */
export function rangeChooser(label, currentKey, onChange) {
  const group = h('div', { class: 'segmented', role: 'group', 'aria-label': label });
  const buttons = RANGES.map((range) => h('button', {
    type: 'button',
    class: 'segment',
    'aria-pressed': String(range.key === currentKey),
    dataset: { range: range.key },
    text: range.label,
    onclick: () => {
      for (const button of buttons) button.setAttribute('aria-pressed', String(button.dataset.range === range.key));
      onChange(range);
    },
  }));
  group.append(...buttons);
  return group;
}

// ---------------------------------------------------------------------------------------
// Formatting

// A fixed locale for counts: the same separators as the server's own headlines, and text
// that scripts reading the `data-stat` hooks can parse whatever the browser's language.
const COUNT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const PERCENT = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2, useGrouping: false });

/** 1234567 → "1,234,567"; anything not a number → "–". */
export function formatNumber(value) {
  return Number.isFinite(value) ? COUNT.format(value) : '–';
}

/** 12.345 → "12.35" (as precise as the API's `blocked_percent`); no % sign. */
export function formatPercent(value) {
  return Number.isFinite(value) ? PERCENT.format(value) : '–';
}

/** `part` as a percentage of `whole`, for display next to counts. */
export function share(part, whole) {
  return whole > 0 ? formatPercent(Math.round((part * 1000) / whole) / 10) : '0';
}

/** Microseconds → "850 µs", "12 ms", "1.2 s". */
export function formatMicros(micros) {
  if (!Number.isFinite(micros)) return '–';
  if (micros < 1000) return `${Math.round(micros)} µs`;
  if (micros < 1_000_000) return `${micros < 10_000 ? (micros / 1000).toFixed(1) : Math.round(micros / 1000)} ms`;
  return `${(micros / 1_000_000).toFixed(1)} s`;
}

/** An RFC 3339 string from the API → Date (null when missing or unreadable). */
export function parseTime(text) {
  if (!text) return null;
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? null : date;
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** "14:05" in the browser's local time (and its 12/24 h habit). */
export function formatClock(date) {
  return date.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
}

/** Local time; today's with seconds only, other days with the date in front. */
export function formatDateTime(date, { seconds = true } = {}) {
  const time = { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) };
  if (sameDay(date, new Date())) return date.toLocaleTimeString(undefined, time);
  return date.toLocaleString(undefined, { day: 'numeric', month: 'short', ...time });
}

/** "in 4 min", "3 h ago", "just now", against `now` (ms). */
export function formatRelative(date, now = Date.now()) {
  const seconds = Math.round((date.getTime() - now) / 1000);
  const size = Math.abs(seconds);
  let amount;
  if (size < 45) return 'just now';
  if (size < 90 * 60) amount = `${Math.max(1, Math.round(size / 60))} min`;
  else if (size < 36 * 3600) amount = `${Math.round(size / 3600)} h`;
  else amount = `${Math.round(size / 86_400)} d`;
  return seconds > 0 ? `in ${amount}` : `${amount} ago`;
}

/** A <time> element showing a local date/time, with the exact value on hover. */
export function timeElement(date, options) {
  if (!date) return h('span', { class: 'muted', text: '–' });
  return h('time', { datetime: date.toISOString(), title: date.toLocaleString(), text: formatDateTime(date, options) });
}

// ---------------------------------------------------------------------------------------
// The API client

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = 'ApiError';
    /** The HTTP status; 0 when the server could not be reached. */
    this.status = status;
  }
}

/** The session's CSRF token, from GET or POST /api/auth; sent on every change. */
let csrfToken = null;

/**
 * Calls the API and returns its JSON (null for an empty answer). Throws ApiError with the
 * server's `error` text, or a plain-language text when the network failed. A 401 from any
 * endpoint but /api/auth itself means the session is missing or over: the login view opens.
 * `query`: parameters, empty ones left out. `signal`: aborts when a page is left.
 */
export async function api(path, { method = 'GET', query, body, signal } = {}) {
  const search = query ? queryString(query) : '';
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  let response;
  try {
    response = await fetch(search ? `${path}?${search}` : path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      signal,
    });
  } catch (error) {
    if (error?.name === 'AbortError') throw error;
    throw new ApiError(0, 'cannot reach hush (the network request failed). Is the server running?');
  }
  const data = await readJson(response);
  if (response.ok) return data;
  const message = typeof data?.error === 'string'
    ? data.error
    : `the server answered ${response.status} ${response.statusText}`.trim();
  if (response.status === 401 && path !== AUTH_PATH) {
    showLogin('Your session has ended. Log in again.');
  }
  throw new ApiError(response.status, message);
}

async function readJson(response) {
  if (response.status === 204) return null;
  const text = await response.text().catch(() => '');
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** `{a: 1, b: '', c: null}` → "a=1". */
export function queryString(values) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  }
  return params.toString();
}

// ---------------------------------------------------------------------------------------
// Status line (aria-live): confirmations and errors that are not tied to one place

let noticeTimer = null;

/**
 * Shows `message` in the status line. `kind`: 'info' | 'success' | 'error'. Errors stay until
 * closed or replaced; others fade after a few seconds. `action`: optional {label, run} button
 * (e.g. "Undo").
 */
export function announce(message, kind = 'info', action) {
  const region = document.getElementById('status');
  clearTimeout(noticeTimer);
  const close = () => region.replaceChildren();
  const notice = h('div', { class: `notice notice-${kind}` },
    h('p', { text: message }),
    action ? h('button', {
      type: 'button', class: 'button subtle', text: action.label,
      onclick: () => { close(); action.run(); },
    }) : null,
    h('button', { type: 'button', class: 'button subtle notice-close', 'aria-label': 'Dismiss message', text: '×', onclick: close }));
  region.replaceChildren(notice);
  if (kind !== 'error') noticeTimer = setTimeout(close, action ? NOTICE_MS * 2 : NOTICE_MS);
}

/** Announces an API error unless it needs no words (see isQuiet). */
export function announceError(error, what) {
  if (!isQuiet(error)) announce(`${what}: ${errorText(error)}`, 'error');
}

// ---------------------------------------------------------------------------------------
// Router

let mounted = null; // { dispose, controller } of the page on screen

function normalisePath(pathname) {
  const trimmed = pathname.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/** Shows the page for the current URL; `focus` moves focus to its heading (after a click). */
function renderRoute(focus) {
  unmountPage();
  const main = document.getElementById('main');
  const path = normalisePath(location.pathname);
  const page = PAGES.get(path);
  for (const link of document.querySelectorAll('[data-nav]')) {
    if (page && link.dataset.nav === page.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  main.replaceChildren();
  if (!page) {
    document.title = 'Not found · hush';
    main.append(pageHeading('Page not found', `There is no page at ${location.pathname}.`),
      h('p', {}, h('a', { href: '/', text: 'Go to the overview' })));
    return;
  }
  document.title = `${page.module.title} · hush`;
  const controller = new AbortController();
  const context = { params: new URLSearchParams(location.search), signal: controller.signal };
  let dispose = null;
  try {
    dispose = page.module.mount(main, context);
  } catch (error) {
    main.append(errorBox(error, 'This page failed to draw'));
  }
  mounted = { controller, dispose };
  if (focus) main.querySelector('h1')?.focus({ preventScroll: true });
}

function unmountPage() {
  if (!mounted) return;
  mounted.controller.abort();
  try {
    mounted.dispose?.();
  } finally {
    mounted = null;
  }
}

/** Goes to `url` (a path with an optional query) inside the dashboard. */
export function navigate(url) {
  history.pushState(null, '', url);
  renderRoute(true);
  window.scrollTo(0, 0);
}

/**
 * Puts `values` into the URL's query string without redrawing the page: a page that changes
 * its own filters calls this so that reload and links keep them. `push` adds a history entry
 * (back returns to the previous filters, redrawn by the router).
 */
export function setQuery(values, { push = true } = {}) {
  const search = queryString(values);
  const url = `${location.pathname}${search ? `?${search}` : ''}`;
  if (url === `${location.pathname}${location.search}`) return;
  if (push) history.pushState(null, '', url);
  else history.replaceState(null, '', url);
}

/** Same-origin links to dashboard pages are followed without a page load. */
function onLinkClick(event) {
  if (event.defaultPrevented || event.button !== 0) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  const link = event.target.closest?.('a[href]');
  if (!link || link.target || link.hasAttribute('download')) return;
  const url = new URL(link.href, location.href);
  if (url.origin !== location.origin || !PAGES.has(normalisePath(url.pathname))) return;
  // In-page anchors (the skip link) keep their ordinary behaviour.
  if (url.hash && url.pathname === location.pathname && url.search === location.search) return;
  event.preventDefault();
  navigate(url.pathname + url.search);
}

// ---------------------------------------------------------------------------------------
// Blocking switch (in the header, on every page)

const PAUSES = [
  { duration: '5m', label: '5 min' },
  { duration: '30m', label: '30 min' },
  { duration: '1h', label: '1 h' },
  { duration: 'forever', label: 'Until resumed' },
];

const blocking = {
  state: null, // {enabled, until} as the API answers
  mode: null, // 'on' | 'paused' | 'off': which buttons are drawn
  poll: null,
  tick: null,
  busy: false,
  refreshing: false,
};

function switchModeOf(state) {
  if (state.enabled) return 'on';
  return parseTime(state.until) ? 'paused' : 'off';
}

function switchText() {
  const { state } = blocking;
  if (!state) return 'Checking blocking…';
  if (state.enabled) return 'Blocking on';
  const until = parseTime(state.until);
  if (!until) return 'Blocking off';
  const left = Math.max(0, until.getTime() - Date.now());
  return `Paused until ${formatClock(until)} (${formatLeft(left)} left)`;
}

/** Milliseconds left → "4 min", "1 h 5 min", "under 1 min"; rounded up so 0 shows last. */
function formatLeft(ms) {
  const minutes = Math.ceil(ms / 60_000);
  if (ms <= 0) return 'no time';
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${hours} h ${rest} min` : `${hours} h`;
}

/** Draws the switch; `keepFocus`: the user was on a switch button, keep them in the switch. */
function drawSwitch(keepFocus = false) {
  const section = document.getElementById('blocking-switch');
  const text = section.querySelector('[data-switch-text]');
  text.textContent = switchText();
  if (!blocking.state) return;
  const mode = switchModeOf(blocking.state);
  section.dataset.state = mode;
  if (mode === blocking.mode) return; // the buttons are already right; keep focus where it is
  const actions = section.querySelector('[data-switch-actions]');
  const hadFocus = keepFocus || actions.contains(document.activeElement);
  blocking.mode = mode;
  if (mode === 'on') {
    actions.replaceChildren(h('div', { class: 'pause-group', role: 'group', 'aria-labelledby': 'pause-label' },
      h('span', { id: 'pause-label', class: 'pause-label', text: 'Pause blocking:' }),
      PAUSES.map((pause) => h('button', {
        type: 'button',
        class: 'button small',
        dataset: { action: 'pause', duration: pause.duration },
        text: pause.label,
        onclick: () => setBlocking(pause.duration === 'forever'
          ? { enabled: false }
          : { enabled: false, duration: pause.duration }),
      }))));
  } else {
    actions.replaceChildren(h('button', {
      type: 'button',
      class: 'button small primary',
      dataset: { action: 'resume' },
      text: 'Resume blocking',
      onclick: () => setBlocking({ enabled: true }),
    }));
  }
  // The clicked button just vanished: keep keyboard users in the switch.
  if (hadFocus) actions.querySelector('button')?.focus();
}

async function refreshSwitch() {
  if (blocking.refreshing) return;
  blocking.refreshing = true;
  try {
    blocking.state = await api('/api/blocking');
    drawSwitch();
  } catch (error) {
    if (!isQuiet(error)) {
      document.querySelector('[data-switch-text]').textContent = `Blocking state unknown: ${errorText(error)}`;
      document.getElementById('blocking-switch').dataset.state = 'unknown';
    }
  } finally {
    blocking.refreshing = false;
  }
}

async function setBlocking(body) {
  if (blocking.busy) return;
  blocking.busy = true;
  const actions = document.querySelector('[data-switch-actions]');
  // Read before disabling: a disabled button drops the focus.
  const hadFocus = actions.contains(document.activeElement);
  const buttons = actions.querySelectorAll('button');
  for (const button of buttons) button.disabled = true;
  try {
    blocking.state = await api('/api/blocking', { method: 'POST', body });
    drawSwitch(hadFocus);
    announce(body.enabled ? 'Blocking is on again.' : `${switchText()}.`, 'success');
  } catch (error) {
    announceError(error, 'Could not change blocking');
  } finally {
    blocking.busy = false;
    for (const button of buttons) button.disabled = false;
    if (hadFocus && !actions.contains(document.activeElement)) actions.querySelector('button')?.focus();
  }
}

/** Once a second: count the pause down, and ask the server when it should have run out. */
function tickSwitch() {
  const until = blocking.state && !blocking.state.enabled && parseTime(blocking.state.until);
  if (!until) return;
  if (until.getTime() <= Date.now()) refreshSwitch();
  else document.querySelector('[data-switch-text]').textContent = switchText();
}

function startSwitch() {
  stopSwitch();
  refreshSwitch();
  blocking.poll = setInterval(refreshSwitch, SWITCH_POLL_MS);
  blocking.tick = setInterval(tickSwitch, 1000);
}

function stopSwitch() {
  clearInterval(blocking.poll);
  clearInterval(blocking.tick);
  blocking.poll = blocking.tick = null;
}

// ---------------------------------------------------------------------------------------
// Login, log out, start

const session = { required: false, running: false };

function setAppVisible(visible) {
  for (const element of document.querySelectorAll('[data-app-only]')) element.hidden = !visible;
  document.getElementById('login').hidden = visible;
  document.querySelector('[data-action="logout"]').hidden = !(visible && session.required);
}

/** Stops the pages and timers and asks for the password; `message` says why. */
export function showLogin(message) {
  csrfToken = null;
  session.required = true;
  stopApp();
  setAppVisible(false);
  document.title = 'Log in · hush';
  const error = document.querySelector('[data-login-error]');
  error.textContent = message ?? '';
  error.hidden = !message;
  error.classList.toggle('info', Boolean(message));
  document.querySelector('#login-password').focus();
}

async function onLoginSubmit(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const input = form.elements.password;
  const error = form.querySelector('[data-login-error]');
  const submit = form.querySelector('button[type="submit"]');
  if (!input.value) {
    error.textContent = 'Enter the password.';
    error.hidden = false;
    error.classList.remove('info');
    input.focus();
    return;
  }
  submit.disabled = true;
  form.setAttribute('aria-busy', 'true');
  try {
    const answer = await api(AUTH_PATH, { method: 'POST', body: { password: input.value } });
    csrfToken = answer?.csrf ?? null;
    session.required = true;
    input.value = '';
    error.hidden = true;
    startApp();
  } catch (failure) {
    error.textContent = failure.status === 429
      ? `Too many attempts: ${errorText(failure)}`
      : errorText(failure);
    error.classList.remove('info');
    error.hidden = false;
    input.select();
  } finally {
    submit.disabled = false;
    form.removeAttribute('aria-busy');
  }
}

async function logOut() {
  try {
    await api(AUTH_PATH, { method: 'DELETE' });
    showLogin('You are logged out.');
  } catch (error) {
    // A 401 here means the session had already ended: the login view is the right place.
    if (error.status === 401) showLogin('You are logged out.');
    else announceError(error, 'Could not log out');
  }
}

function startApp() {
  session.running = true;
  setAppVisible(true);
  renderRoute(false);
  startSwitch();
}

function stopApp() {
  session.running = false;
  unmountPage();
  stopSwitch();
}

/** Asks the server whether a login is needed, then shows the login view or the page. */
async function start() {
  document.addEventListener('click', onLinkClick);
  window.addEventListener('popstate', () => {
    if (session.running) renderRoute(false);
  });
  document.querySelector('[data-login-form]').addEventListener('submit', onLoginSubmit);
  document.querySelector('[data-action="logout"]').addEventListener('click', logOut);

  let auth;
  try {
    auth = await api(AUTH_PATH);
  } catch (error) {
    if (error.status === 401) return showLogin();
    if (error.status === 404) {
      // A server without the session endpoints has nothing to log in to.
      auth = { required: false, authenticated: true, csrf: null };
    } else {
      setAppVisible(true);
      document.getElementById('main').replaceChildren(
        errorBox(error, 'Could not start the dashboard', () => location.reload()));
      return;
    }
  }
  session.required = Boolean(auth?.required);
  csrfToken = auth?.csrf ?? null;
  if (session.required && !auth?.authenticated) showLogin();
  else startApp();
}

start();

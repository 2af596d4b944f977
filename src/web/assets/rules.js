// rules.js — the rules page (/rules): the custom allow and block rules kept by hush
// (GET /api/rules), a form to add one (POST /api/rules, whose 400/409/422 texts are shown as
// they come), a Delete button per rule (DELETE /api/rules/{id}) with an Undo that adds the
// rule back, and a small "check a name" form over GET /api/check so the effect of a rule can
// be seen at once.

import {
  announce, announceError, api, emptyState, errorText, field, h, isQuiet, pageHeading,
  parseTime, showError, tableWrap, timeElement,
} from './app.js';

export const title = 'Rules';

const KIND_LABELS = { deny: 'Block', allow: 'Allow' };

export function mount(root, { signal }) {
  const content = h('div', { 'aria-busy': 'true', text: 'Loading…' });
  const form = addForm();
  const formError = form.querySelector('[data-form-error]');
  const check = checkForm(signal);

  root.append(
    pageHeading('Rules', 'Your own rules, applied at once on top of the lists. An allow rule always wins over a block.'),
    h('div', { class: 'columns two' },
      h('section', { class: 'panel', 'aria-labelledby': 'add-rule-title' },
        h('h2', { id: 'add-rule-title', text: 'Add a rule' }), form),
      h('section', { class: 'panel', 'aria-labelledby': 'check-title' },
        h('h2', { id: 'check-title', text: 'Check a name' }), check)),
    h('section', { class: 'panel', 'aria-labelledby': 'rules-title' },
      h('h2', { id: 'rules-title', text: 'Custom rules' }), content));

  async function load() {
    try {
      const answer = await api('/api/rules', { signal });
      const rules = answer?.rules ?? [];
      content.replaceChildren(rules.length
        ? rulesTable(rules, remove)
        : emptyState('No custom rules yet. Add one above, or use Allow / Block in the query log.'));
    } catch (error) {
      showError(content, error, 'Could not load the rules', load);
    } finally {
      content.removeAttribute('aria-busy');
    }
  }

  async function add(rule) {
    await api('/api/rules', { method: 'POST', body: rule, signal });
    await load();
  }

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const rule = { kind: String(data.get('kind')), domain: String(data.get('domain')).trim() };
    const comment = String(data.get('comment') ?? '').trim();
    if (comment) rule.comment = comment;
    if (!rule.domain) {
      showFormError('Enter a domain, *.domain or /regex/.');
      form.elements.domain.focus();
      return;
    }
    const submit = form.querySelector('button[type="submit"]');
    submit.disabled = true;
    try {
      await add(rule);
      formError.hidden = true;
      form.elements.domain.value = '';
      form.elements.comment.value = '';
      form.elements.domain.focus();
      announce(`${KIND_LABELS[rule.kind]} rule added for ${rule.domain}.`, 'success');
    } catch (error) {
      if (!isQuiet(error)) showFormError(errorText(error));
    } finally {
      submit.disabled = false;
    }
  });

  function showFormError(text) {
    formError.textContent = text;
    formError.hidden = false;
  }

  async function remove(rule, button) {
    button.disabled = true;
    try {
      await api(`/api/rules/${encodeURIComponent(rule.id)}`, { method: 'DELETE', signal });
      await load();
      content.querySelector('h2, table, button')?.focus?.();
      const restore = { kind: rule.kind, domain: rule.domain };
      if (rule.comment) restore.comment = rule.comment;
      announce(`Deleted the ${KIND_LABELS[rule.kind]?.toLowerCase() ?? rule.kind} rule for ${rule.domain}.`, 'success', {
        label: 'Undo',
        run: () => add(restore)
          .then(() => announce(`Restored the rule for ${rule.domain}.`, 'success'))
          .catch((error) => announceError(error, 'Could not restore the rule')),
      });
    } catch (error) {
      button.disabled = false;
      announceError(error, `Could not delete the rule for ${rule.domain}`);
    }
  }

  load();
  return null;
}

function addForm() {
  const kind = h('select', { name: 'kind' },
    h('option', { value: 'deny', text: 'Block (deny)' }),
    h('option', { value: 'allow', text: 'Allow' }));
  const domain = h('input', {
    name: 'domain', type: 'text', required: true, placeholder: 'ads.example.com',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
  });
  const comment = h('input', { name: 'comment', type: 'text', placeholder: 'Why (optional)', maxlength: '200' });
  return h('form', { class: 'rule-form', novalidate: true },
    h('div', { class: 'filter-grid' },
      field('Kind', kind),
      field('Domain', domain, 'A name (its subdomains too), *.name (subdomains only) or /regex/'),
      field('Comment', comment)),
    h('p', { class: 'form-error', role: 'alert', dataset: { formError: '' }, hidden: true }),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'button primary', text: 'Add rule' })));
}

function rulesTable(rules, remove) {
  return tableWrap(h('table', { class: 'data rules-table' },
    h('caption', { class: 'visually-hidden', text: 'Custom rules' }),
    h('thead', {}, h('tr', {}, ['Kind', 'Domain', 'Comment', 'Added', 'Action'].map((name) => h('th', { scope: 'col', text: name })))),
    h('tbody', {}, rules.map((rule) => {
      const button = h('button', {
        type: 'button', class: 'button small danger', text: 'Delete',
        'aria-label': `Delete the ${rule.kind} rule for ${rule.domain}`,
        onclick: () => remove(rule, button),
      });
      return h('tr', { dataset: { ruleId: String(rule.id) } },
        h('td', {}, h('span', { class: `badge badge-${rule.kind === 'allow' ? 'allow' : 'block'}`, text: KIND_LABELS[rule.kind] ?? rule.kind })),
        h('td', { class: 'domain' }, h('code', { text: rule.domain })),
        h('td', { text: rule.comment ?? '' }),
        h('td', { class: 'nowrap' }, timeElement(parseTime(rule.created), { seconds: false })),
        h('td', { class: 'actions' }, button));
    }))), 'Custom rules table');
}

/** "Would this name be blocked?" — GET /api/check?domain=, answered in words. */
function checkForm(signal) {
  const input = h('input', {
    name: 'check', type: 'text', placeholder: 'tracker.example.com',
    autocomplete: 'off', spellcheck: 'false', autocapitalize: 'off',
  });
  const result = h('div', { class: 'check-result', 'aria-live': 'polite' });
  const form = h('form', { class: 'check-form', novalidate: true },
    h('div', { class: 'inline-field' }, field('Domain to check', input),
      h('button', { type: 'submit', class: 'button', text: 'Check' })),
    result);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const domain = input.value.trim();
    if (!domain) return;
    result.textContent = 'Checking…';
    try {
      const answer = await api('/api/check', { query: { domain }, signal });
      result.replaceChildren(checkAnswer(answer));
    } catch (error) {
      if (!isQuiet(error)) result.replaceChildren(h('p', { class: 'form-error', text: errorText(error) }));
    }
  });
  return form;
}

function checkAnswer(answer) {
  if (answer.blocked) {
    return h('p', {}, h('span', { class: 'badge badge-blocked', text: 'blocked' }), ' ',
      h('strong', { text: answer.domain }), ' by rule ', h('code', { text: answer.rule ?? '?' }),
      ' from ', h('strong', { text: answer.list ?? 'an unknown list' }), '.');
  }
  if (answer.allowed_by) {
    return h('p', {}, h('span', { class: 'badge badge-allow', text: 'allowed' }), ' ',
      h('strong', { text: answer.domain }), ' is let through by the allow rule ',
      h('code', { text: answer.allowed_by }), '.');
  }
  return h('p', {}, h('span', { class: 'badge badge-forwarded', text: 'not blocked' }), ' ',
    h('strong', { text: answer.domain }), ' matches no block rule.');
}

// Traces list: filters (name, user, session, tag, time range) and a search box, paging, and
// polling so new traces appear without a reload.

import { h, clear, link, failure } from './dom.js';
import * as api from './api.js';
import * as fmt from './format.js';

export const POLL_MS = 3000;
const FILTERS = ['name', 'userId', 'sessionId', 'tags', 'fromTimestamp', 'toTimestamp'];
const LIMITS = [25, 50, 100];

/** A trace's total tokens when the list gives them (several spellings across versions). */
function traceTokens(t) {
  if (typeof t.totalTokens === 'number') return t.totalTokens;
  return fmt.tokens(t.usageDetails ?? t.usage ?? null);
}

function row(t, isNew) {
  const href = link(['trace', t.id]);
  const tr = h('tr', { class: isNew ? 'row new' : 'row', dataset: { traceId: t.id } },
    h('td', { class: 'nowrap' }, fmt.time(t.timestamp)),
    h('td', { class: 'name' }, h('a', { href, class: 'trace-link' }, t.name ?? '(unnamed)'),
      h('div', { class: 'mono small muted' }, t.id)),
    h('td', null, t.userId ? h('a', { href: link(['traces'], { userId: t.userId }), class: 'user' }, t.userId) : '—'),
    h('td', null, t.sessionId ? h('a', { href: link(['session', t.sessionId]), class: 'session' }, t.sessionId) : '—'),
    h('td', { class: 'num' }, fmt.duration(t.latency)),
    h('td', { class: 'num tokens' }, fmt.count(traceTokens(t))),
    h('td', { class: 'num cost' }, fmt.cost(t.totalCost)),
    h('td', null, (t.tags ?? []).map((tag) => h('a', { class: 'chip', href: link(['traces'], { tags: tag }) }, tag))));
  tr.addEventListener('click', (event) => {
    if (event.target.closest('a')) return;
    location.hash = href;
  });
  return tr;
}

export function tracesPage(main, context) {
  const params = context.params;
  const page = Math.max(1, Number(params.get('page')) || 1);
  const limit = LIMITS.includes(Number(params.get('limit'))) ? Number(params.get('limit')) : 50;
  const query = { page, limit, orderBy: 'timestamp.desc' };
  for (const key of FILTERS) if (params.get(key)) query[key] = params.get(key);

  const input = (id, label, value, type = 'text') => {
    const field = h('input', { id: `filter-${id}`, name: id, type, value: value ?? '', placeholder: label, spellcheck: 'false' });
    return [field, h('label', { class: 'field' }, h('span', null, label), field)];
  };
  const [name, nameField] = input('name', 'Name', query.name);
  const [user, userField] = input('userId', 'User', query.userId);
  const [session, sessionField] = input('sessionId', 'Session', query.sessionId);
  const [tag, tagField] = input('tags', 'Tag', query.tags);
  const [from, fromField] = input('fromTimestamp', 'From', fmt.toLocalInput(query.fromTimestamp), 'datetime-local');
  const [to, toField] = input('toTimestamp', 'To', fmt.toLocalInput(query.toTimestamp), 'datetime-local');
  const search = h('input', { id: 'search', type: 'search', placeholder: 'Search this page (id, name, user, session)…', spellcheck: 'false' });
  const filters = h('form', { class: 'filters', id: 'filters' }, nameField, userField, sessionField, tagField, fromField, toField,
    h('div', { class: 'filter-buttons' },
      h('button', { type: 'submit', class: 'primary', id: 'apply-filters' }, 'Filter'),
      h('a', { href: '#/traces', class: 'button' }, 'Reset')));
  filters.addEventListener('submit', (event) => {
    event.preventDefault();
    location.hash = link(['traces'], {
      name: name.value.trim(), userId: user.value.trim(), sessionId: session.value.trim(), tags: tag.value.trim(),
      fromTimestamp: fmt.fromLocalInput(from.value), toTimestamp: fmt.fromLocalInput(to.value),
      limit: limit === 50 ? '' : limit,
    });
  });

  const live = h('span', { class: 'live', id: 'live' }, 'Loading…');
  const tbody = h('tbody', { id: 'traces-body' });
  const table = h('table', { class: 'table', id: 'traces-table' },
    h('thead', null, h('tr', null, ['Timestamp', 'Name', 'User', 'Session', 'Latency', 'Tokens', 'Cost', 'Tags']
      .map((label) => h('th', { class: ['Latency', 'Tokens', 'Cost'].includes(label) ? 'num' : '' }, label)))),
    tbody);
  const pager = h('div', { class: 'pager', id: 'pager' });
  const errors = h('div');
  main.appendChild(h('header', { class: 'page-head' }, h('h1', null, 'Traces'), live));
  main.appendChild(filters);
  main.appendChild(h('div', { class: 'toolbar' }, search));
  main.appendChild(errors);
  main.appendChild(h('div', { class: 'card flush' }, table));
  main.appendChild(pager);

  let shown = new Map();
  let data = [];
  const applySearch = () => {
    const needle = search.value.trim().toLowerCase();
    for (const tr of tbody.children) {
      const t = shown.get(tr.dataset.traceId);
      const hay = t ? [t.id, t.name, t.userId, t.sessionId].filter(Boolean).join(' ').toLowerCase() : '';
      tr.hidden = needle !== '' && !hay.includes(needle);
    }
  };
  search.addEventListener('input', applySearch);

  const fingerprint = (t) => JSON.stringify([t.name, t.userId, t.sessionId, t.latency, t.totalCost, traceTokens(t), t.tags]);
  const draw = (answer, first) => {
    const previous = shown;
    data = answer.data ?? [];
    shown = new Map(data.map((t) => [t.id, t]));
    const same = !first && data.length === previous.size &&
      data.every((t) => previous.has(t.id) && fingerprint(previous.get(t.id)) === fingerprint(t));
    if (!same) {
      const fragment = document.createDocumentFragment();
      for (const t of data) fragment.appendChild(row(t, !first && !previous.has(t.id)));
      clear(tbody).appendChild(fragment);
      if (data.length === 0) {
        tbody.appendChild(h('tr', null, h('td', { class: 'empty', colspan: 8 },
          Object.keys(query).length > 3 ? 'No trace matches these filters.' : 'No traces yet. Send spans to /v1/traces and they appear here.')));
      }
      applySearch();
    }
    const meta = answer.meta ?? {};
    const totalPages = Math.max(1, meta.totalPages ?? 1);
    const go = (p) => link(['traces'], { ...Object.fromEntries(FILTERS.map((k) => [k, query[k]])), page: p === 1 ? '' : p, limit: limit === 50 ? '' : limit });
    clear(pager).append(
      h('span', { class: 'muted', id: 'page-info' },
        `Page ${meta.page ?? page} of ${totalPages} · ${fmt.count(meta.totalItems ?? data.length)} traces`),
      page > 1 ? h('a', { class: 'button', href: go(page - 1), id: 'prev-page' }, '← Previous') : h('span', { class: 'button disabled' }, '← Previous'),
      page < totalPages ? h('a', { class: 'button', href: go(page + 1), id: 'next-page' }, 'Next →') : h('span', { class: 'button disabled' }, 'Next →'));
    live.textContent = `Live · updated ${fmt.clock(new Date())}`;
  };

  let stopped = false;
  let timer = null;
  const load = async (first) => {
    try {
      const answer = await api.get('/api/public/traces', query);
      if (stopped) return;
      clear(errors);
      draw(answer, first);
    } catch (error) {
      if (stopped) return;
      clear(errors);
      failure(errors, error, context);
      live.textContent = 'Not updated';
    }
    if (!stopped) timer = setTimeout(() => load(false), POLL_MS);
  };
  load(true);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

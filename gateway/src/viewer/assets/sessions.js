// Sessions: the list, and one session's traces in order with their input and output, as a
// conversation across traces.

import { h, clear, link, failure } from './dom.js';
import * as api from './api.js';
import * as fmt from './format.js';
import { contentView } from './content.js';

export function sessionsPage(main, context) {
  const page = Math.max(1, Number(context.params.get('page')) || 1);
  const limit = 50;
  main.appendChild(h('header', { class: 'page-head' }, h('h1', null, 'Sessions')));
  const body = h('tbody', { id: 'sessions-body' });
  const pager = h('div', { class: 'pager' });
  const errors = h('div');
  main.append(errors, h('div', { class: 'card flush' }, h('table', { class: 'table', id: 'sessions-table' },
    h('thead', null, h('tr', null, ['Session', 'Created', 'Traces', 'Environment'].map((c) => h('th', null, c)))), body)), pager);
  let stopped = false;
  (async () => {
    let answer;
    try {
      answer = await api.get('/api/public/sessions', { page, limit });
    } catch (error) {
      if (!stopped) failure(errors, error, context);
      return;
    }
    if (stopped) return;
    const data = answer.data ?? [];
    for (const s of data) {
      const href = link(['session', s.id]);
      const tr = h('tr', { class: 'row', dataset: { sessionId: s.id } },
        h('td', null, h('a', { href, class: 'session-link' }, s.id)),
        h('td', { class: 'nowrap' }, fmt.time(s.createdAt)),
        h('td', { class: 'num' }, fmt.count(s.countTraces ?? s.traceCount ?? (Array.isArray(s.traces) ? s.traces.length : null))),
        h('td', null, s.environment ?? ''));
      tr.addEventListener('click', (event) => {
        if (!event.target.closest('a')) location.hash = href;
      });
      body.appendChild(tr);
    }
    if (!data.length) body.appendChild(h('tr', null, h('td', { class: 'empty', colspan: 4 }, 'No sessions yet: spans with session.id (or langfuse.session.id) make one.')));
    const meta = answer.meta ?? {};
    const pages = Math.max(1, meta.totalPages ?? 1);
    pager.append(h('span', { class: 'muted' }, `Page ${page} of ${pages} · ${fmt.count(meta.totalItems ?? data.length)} sessions`),
      page > 1 ? h('a', { class: 'button', href: link(['sessions'], { page: page - 1 }) }, '← Previous') : null,
      page < pages ? h('a', { class: 'button', href: link(['sessions'], { page: page + 1 }) }, 'Next →') : null);
  })();
  return () => {
    stopped = true;
  };
}

export function sessionPage(main, id, context) {
  main.appendChild(h('p', { class: 'muted' }, 'Loading session…'));
  let stopped = false;
  (async () => {
    let s;
    try {
      s = await api.get(`/api/public/sessions/${encodeURIComponent(id ?? '')}`);
    } catch (error) {
      if (stopped) return;
      clear(main).appendChild(h('p', null, h('a', { href: '#/sessions' }, '← Sessions')));
      failure(main, error, context);
      return;
    }
    if (stopped) return;
    const traces = (Array.isArray(s.traces) ? s.traces : []).slice()
      .sort((a, b) => new Date(a.timestamp) - new Date(b.timestamp));
    const cost = traces.reduce((sum, t) => sum + (Number(t.totalCost) || 0), 0);
    const users = [...new Set(traces.map((t) => t.userId).filter(Boolean))];
    clear(main);
    main.appendChild(h('header', { class: 'page-head' }, h('div', null,
      h('a', { href: '#/sessions', class: 'muted small' }, '← Sessions'),
      h('h1', { id: 'session-id' }, s.id ?? id))));
    main.appendChild(h('div', { class: 'facts' },
      h('div', { class: 'fact' }, h('div', { class: 'fact-label' }, 'Created'), h('div', { class: 'fact-value' }, fmt.time(s.createdAt))),
      h('div', { class: 'fact' }, h('div', { class: 'fact-label' }, 'Traces'), h('div', { class: 'fact-value', id: 'session-trace-count' }, fmt.count(traces.length))),
      h('div', { class: 'fact' }, h('div', { class: 'fact-label' }, 'Total cost'), h('div', { class: 'fact-value' }, fmt.cost(cost))),
      users.length ? h('div', { class: 'fact' }, h('div', { class: 'fact-label' }, 'Users'), h('div', { class: 'fact-value' }, users.join(', '))) : null));
    const list = h('div', { class: 'session-traces', id: 'session-traces' });
    // The first 100 traces in full; a long session is paged through the traces list.
    const pending = [];
    for (const t of traces.slice(0, 100)) {
      const io = h('div', { class: 'split' },
        h('div', null, h('h4', null, 'Input'), contentView(t.input)),
        h('div', null, h('h4', null, 'Output'), contentView(t.output)));
      if (t.input == null && t.output == null) pending.push([t, io]);
      list.appendChild(h('article', { class: 'card session-trace', dataset: { traceId: t.id } },
        h('div', { class: 'session-trace-head' },
          h('a', { href: link(['trace', t.id]), class: 'trace-link' }, t.name ?? '(unnamed)'),
          h('span', { class: 'muted small' }, `${fmt.time(t.timestamp)} · ${fmt.duration(t.latency)} · ${fmt.cost(t.totalCost)}`)),
        io));
    }
    // A trace without its own input/output (OTel apps rarely set one) shows its last
    // generation's conversation instead, read a few traces at a time.
    const fill = async () => {
      while (pending.length && !stopped) {
        const [t, io] = pending.shift();
        try {
          const full = await api.get(`/api/public/traces/${encodeURIComponent(t.id)}`);
          const generations = (full.observations ?? []).filter((o) => o.type === 'GENERATION' && (o.input != null || o.output != null))
            .sort((a, b) => new Date(a.startTime) - new Date(b.startTime));
          const last = generations[generations.length - 1];
          if (!last || stopped) continue;
          io.replaceChildren(
            h('div', null, h('h4', null, `Input · ${last.name ?? 'generation'}`), contentView(last.input)),
            h('div', null, h('h4', null, 'Output'), contentView(last.output)));
        } catch (error) {
          if (error.status === 401) return context.onUnauthorized();
        }
      }
    };
    for (let i = 0; i < 4; i += 1) fill();
    if (traces.length > 100) {
      list.appendChild(h('p', null, h('a', { href: link(['traces'], { sessionId: s.id ?? id }) }, `All ${traces.length} traces of this session →`)));
    }
    if (!traces.length) list.appendChild(h('p', { class: 'muted' }, 'This session has no traces.'));
    main.appendChild(list);
  })();
  return () => {
    stopped = true;
  };
}

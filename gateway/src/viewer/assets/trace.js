// One trace: its header, the observation tree with a timeline (type, duration, tokens, cost),
// and the selected observation's view. Rows are built off-document and added in chunks, so a
// trace of thousands of observations opens without freezing the tab.

import { h, clear, link, token, failure } from './dom.js';
import * as api from './api.js';
import * as fmt from './format.js';
import { contentView, jsonView } from './content.js';

/** Rows built before the first paint; the rest follow a chunk per animation frame. */
const FIRST_CHUNK = 400;
const CHUNK = 800;

const ms = (iso) => (iso ? new Date(iso).getTime() : NaN);

/** Depth-first order (children by start time) without recursion: [{o, depth, end}]. */
export function flatten(observations) {
  const byId = new Map(observations.map((o) => [o.id, o]));
  const children = new Map();
  const roots = [];
  for (const o of observations) {
    const parent = o.parentObservationId;
    if (parent && byId.has(parent) && parent !== o.id) {
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(o);
    } else {
      roots.push(o);
    }
  }
  const byStart = (a, b) => ms(a.startTime) - ms(b.startTime) || String(a.id).localeCompare(String(b.id));
  roots.sort(byStart);
  for (const list of children.values()) list.sort(byStart);
  const rows = [];
  const seen = new Set();
  const stack = roots.slice().reverse().map((o) => ({ o, depth: 0 }));
  while (stack.length) {
    const item = stack.pop();
    if (item.exit) {
      rows[item.index].end = rows.length;
      continue;
    }
    if (seen.has(item.o.id)) continue;
    seen.add(item.o.id);
    const index = rows.length;
    rows.push({ o: item.o, depth: item.depth, end: index + 1 });
    stack.push({ exit: true, index });
    const kids = children.get(item.o.id) ?? [];
    for (let i = kids.length - 1; i >= 0; i -= 1) stack.push({ o: kids[i], depth: item.depth + 1 });
  }
  // Anything in a parent cycle is still listed, at the top level.
  for (const o of observations) if (!seen.has(o.id)) rows.push({ o, depth: 0, end: rows.length + 1 });
  return rows;
}

function kv(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(([, v]) => v !== null && v !== undefined && v !== '' && v !== '—')
    .map(([k, v]) => [h('dt', null, k), h('dd', null, v)]));
}

function numbersTable(map, format, id) {
  const entries = Object.entries(map ?? {});
  if (!entries.length) return null;
  return h('table', { class: 'table compact', id },
    h('tbody', null, entries.map(([k, v]) => h('tr', null, h('td', null, k), h('td', { class: 'num' }, format(v))))));
}

function scoresView(scores) {
  if (!scores.length) return null;
  return section('Scores', h('table', { class: 'table compact scores' },
    h('thead', null, h('tr', null, ['Name', 'Value', 'Source', 'Comment'].map((c) => h('th', null, c)))),
    h('tbody', null, scores.map((s) => h('tr', null,
      h('td', null, s.name), h('td', { class: 'num' }, s.stringValue ?? String(s.value ?? '—')),
      h('td', null, s.source ?? ''), h('td', null, s.comment ?? ''))))));
}

function section(title, ...body) {
  return h('section', { class: 'section' }, h('h3', null, title), body);
}

function hasKeys(value) {
  return value && typeof value === 'object' && Object.keys(value).length > 0;
}

/** The observation view: what it is, model and usage, input/output, metadata, scores. */
function observationView(o, scores) {
  const seconds = fmt.between(o.startTime, o.endTime);
  const ttft = fmt.between(o.startTime, o.completionStartTime);
  const params = hasKeys(o.modelParameters)
    ? h('div', { class: 'chips' }, Object.entries(o.modelParameters).map(([k, v]) =>
      h('span', { class: 'chip' }, `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)))
    : null;
  return h('div', { class: 'detail', id: 'observation-detail', dataset: { observationId: o.id } },
    h('div', { class: 'detail-head' },
      h('span', { class: `badge type-${token(o.type)}` }, o.type ?? 'SPAN'),
      h('h2', { id: 'observation-name' }, o.name ?? '(unnamed)')),
    kv([
      ['ID', h('span', { class: 'mono' }, o.id)],
      ['Start', fmt.time(o.startTime)],
      ['Duration', fmt.duration(seconds)],
      ['Time to first token', ttft !== null ? fmt.duration(ttft) : null],
      ['Level', o.level && o.level !== 'DEFAULT' ? h('span', { class: `chip level-${token(o.level)}` }, o.level) : null],
      ['Status', o.statusMessage],
      ['Model', o.model ? h('span', { class: 'model', id: 'observation-model' }, o.model) : null],
      ['Prompt', o.promptName ? `${o.promptName} v${o.promptVersion ?? ''}` : null],
      ['Environment', o.environment],
      ['Version', o.version],
    ]),
    params ? section('Model parameters', params) : null,
    hasKeys(o.usageDetails) || hasKeys(o.costDetails)
      ? h('div', { class: 'split' },
        hasKeys(o.usageDetails) ? section('Usage (tokens)', numbersTable(o.usageDetails, fmt.count, 'usage-table')) : null,
        hasKeys(o.costDetails) ? section('Cost', numbersTable(o.costDetails, fmt.cost, 'cost-table')) : null)
      : null,
    section('Input', h('div', { id: 'observation-input' }, contentView(o.input))),
    section('Output', h('div', { id: 'observation-output' }, contentView(o.output))),
    hasKeys(o.metadata) ? section('Metadata', jsonView(o.metadata)) : null,
    scoresView(scores));
}

function traceView(t, scores, totals) {
  return h('div', { class: 'detail', id: 'trace-detail' },
    h('div', { class: 'detail-head' }, h('span', { class: 'badge type-trace' }, 'TRACE'), h('h2', null, t.name ?? '(unnamed)')),
    kv([
      ['Tokens', fmt.count(totals.tokens)],
      ['Cost', fmt.cost(t.totalCost)],
      ['Release', t.release],
      ['Version', t.version],
      ['Environment', t.environment],
    ]),
    section('Input', contentView(t.input)),
    section('Output', contentView(t.output)),
    hasKeys(t.metadata) ? section('Metadata', jsonView(t.metadata)) : null,
    scoresView(scores));
}

export function tracePage(main, id, context) {
  main.appendChild(h('p', { class: 'muted', id: 'trace-loading' }, 'Loading trace…'));
  let stopped = false;
  let frame = null;
  (async () => {
    let t;
    try {
      t = await api.get(`/api/public/traces/${encodeURIComponent(id ?? '')}`);
    } catch (error) {
      if (stopped) return;
      clear(main);
      main.appendChild(h('p', null, h('a', { href: '#/traces' }, '← Traces')));
      failure(main, error, context);
      return;
    }
    if (stopped) return;
    const started = performance.now();
    const observations = Array.isArray(t.observations) ? t.observations : [];
    const scores = Array.isArray(t.scores) ? t.scores : [];
    const rows = flatten(observations);
    const totals = {
      tokens: observations.reduce((sum, o) => sum + (fmt.tokens(o.usageDetails) ?? 0), 0),
    };
    const t0 = Math.min(ms(t.timestamp), ...rows.slice(0, 5000).map((r) => ms(r.o.startTime)).filter(Number.isFinite));
    const t1 = Math.max(t0 + 1, ...rows.slice(0, 5000).map((r) => ms(r.o.endTime ?? r.o.startTime)).filter(Number.isFinite));
    const span = t1 - t0;

    clear(main);
    main.appendChild(h('header', { class: 'page-head' },
      h('div', null,
        h('a', { href: '#/traces', class: 'muted small' }, '← Traces'),
        h('h1', { id: 'trace-name' }, t.name ?? '(unnamed)'),
        h('div', { class: 'mono small muted' }, t.id))));
    main.appendChild(h('div', { class: 'facts', id: 'trace-facts' },
      fact('Time', fmt.time(t.timestamp)),
      fact('Latency', fmt.duration(t.latency)),
      fact('Tokens', fmt.count(totals.tokens), 'trace-tokens'),
      fact('Cost', fmt.cost(t.totalCost), 'trace-cost'),
      fact('Observations', fmt.count(observations.length)),
      t.userId ? fact('User', h('a', { href: link(['traces'], { userId: t.userId }) }, t.userId)) : null,
      t.sessionId ? fact('Session', h('a', { href: link(['session', t.sessionId]), id: 'trace-session' }, t.sessionId)) : null,
      (t.tags ?? []).length ? fact('Tags', h('span', null, t.tags.map((tag) => h('span', { class: 'chip' }, tag)))) : null));

    const tree = h('div', { class: 'tree', id: 'tree', role: 'tree' });
    const detail = h('div', { class: 'detail-pane', id: 'detail-pane' });
    main.appendChild(h('div', { class: 'trace-layout' },
      h('div', { class: 'card tree-card' },
        h('div', { class: 'tree-head' }, h('span', null, 'Observations'), h('span', { class: 'timeline-head' }, `Timeline · ${fmt.duration(span / 1000)}`)),
        tree),
      detail));

    const nodes = new Array(rows.length);
    let selected = null;
    const select = (index) => {
      if (selected) selected.classList.remove('selected');
      clear(detail);
      if (index === null) {
        selected = traceRow;
        detail.appendChild(traceView(t, scores.filter((s) => !s.observationId), totals));
        history.replaceState(null, '', link(['trace', t.id]));
      } else {
        const { o } = rows[index];
        selected = nodes[index];
        detail.appendChild(observationView(o, scores.filter((s) => s.observationId === o.id)));
        history.replaceState(null, '', link(['trace', t.id], { observation: o.id }));
      }
      if (selected) selected.classList.add('selected');
    };

    const collapse = (index, caret) => {
      const open = caret.getAttribute('aria-expanded') !== 'false';
      caret.setAttribute('aria-expanded', open ? 'false' : 'true');
      caret.textContent = open ? '▸' : '▾';
      const { end } = rows[index];
      // Closing hides the whole subtree; opening shows the rows whose closed ancestors reopen.
      for (let i = index + 1; i < end; i += 1) {
        if (!nodes[i]) continue;
        if (open) {
          nodes[i].hidden = true;
        } else {
          nodes[i].hidden = false;
          const c = nodes[i].querySelector('.caret');
          if (c && c.getAttribute('aria-expanded') === 'false') {
            const skip = rows[i].end;
            for (let j = i + 1; j < skip; j += 1) if (nodes[j]) nodes[j].hidden = true;
            i = skip - 1;
          }
        }
      }
    };

    const node = (index) => {
      const { o, depth, end } = rows[index];
      const start = ms(o.startTime);
      const stop = ms(o.endTime ?? o.startTime);
      const bar = h('span', { class: `bar type-${token(o.type)}` });
      if (Number.isFinite(start)) {
        bar.style.left = `${Math.max(0, ((start - t0) / span) * 100)}%`;
        bar.style.width = `${Math.max(0.3, ((Math.max(stop, start) - start) / span) * 100)}%`;
      }
      const caret = end > index + 1
        ? h('button', { type: 'button', class: 'caret', 'aria-expanded': 'true', 'aria-label': 'collapse' }, '▾')
        : h('span', { class: 'caret none' });
      const tokens = fmt.tokens(o.usageDetails);
      const cost = o.totalCost ?? o.costDetails?.total;
      const label = h('div', { class: 'node-label' },
        caret,
        h('span', { class: `badge type-${token(o.type)}` }, o.type ?? 'SPAN'),
        h('span', { class: 'node-name' }, o.name ?? '(unnamed)'),
        h('span', { class: 'node-facts' },
          h('span', null, fmt.duration(fmt.between(o.startTime, o.endTime))),
          tokens ? h('span', null, `${fmt.count(tokens)} tok`) : null,
          cost ? h('span', null, fmt.cost(cost)) : null));
      label.style.paddingLeft = `${depth * 16 + 6}px`;
      const element = h('div', { class: 'node', role: 'treeitem', dataset: { index: String(index), observationId: o.id, type: o.type ?? '' } },
        label, h('div', { class: 'timeline' }, bar));
      if (o.level === 'ERROR') element.classList.add('error-row');
      return element;
    };

    const traceRow = h('div', { class: 'node trace-node', role: 'treeitem' },
      h('div', { class: 'node-label' }, h('span', { class: 'caret none' }),
        h('span', { class: 'badge type-trace' }, 'TRACE'), h('span', { class: 'node-name' }, t.name ?? '(unnamed)'),
        h('span', { class: 'node-facts' }, h('span', null, fmt.duration(t.latency)))),
      h('div', { class: 'timeline' }, h('span', { class: 'bar type-trace full' })));
    tree.appendChild(traceRow);

    tree.addEventListener('click', (event) => {
      const element = event.target.closest('.node');
      if (!element) return;
      if (element === traceRow) return select(null);
      const index = Number(element.dataset.index);
      if (event.target.closest('.caret') && event.target.closest('button')) return collapse(index, event.target.closest('.caret'));
      select(index);
    });

    const wanted = context.params.get('observation');
    const build = (from, to) => {
      const fragment = document.createDocumentFragment();
      for (let i = from; i < to; i += 1) {
        nodes[i] = node(i);
        fragment.appendChild(nodes[i]);
      }
      tree.appendChild(fragment);
    };
    const finish = () => {
      tree.dataset.rendered = String(rows.length);
      tree.dataset.renderMs = String(Math.round(performance.now() - started));
    };
    build(0, Math.min(rows.length, FIRST_CHUNK));
    const wantedIndex = wanted ? rows.findIndex((r) => r.o.id === wanted) : -1;
    let done = Math.min(rows.length, FIRST_CHUNK);
    const initial = () => {
      if (wantedIndex >= 0) select(wantedIndex);
      else select(null);
    };
    if (wantedIndex < done) initial();
    const more = () => {
      if (stopped) return;
      const to = Math.min(rows.length, done + CHUNK);
      build(done, to);
      const before = done;
      done = to;
      if (wantedIndex >= before && wantedIndex < done) initial();
      if (done < rows.length) frame = requestAnimationFrame(more);
      else finish();
    };
    if (done < rows.length) frame = requestAnimationFrame(more);
    else finish();
  })();
  return () => {
    stopped = true;
    if (frame) cancelAnimationFrame(frame);
  };
}

function fact(label, value, id) {
  return h('div', { class: 'fact' }, h('div', { class: 'fact-label' }, label), h('div', { class: 'fact-value', id }, value));
}

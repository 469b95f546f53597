// Dashboard: traces, observations, tokens and cost per day and per model, from
// GET /api/public/metrics/daily.

import { h, link, failure } from './dom.js';
import * as api from './api.js';
import * as fmt from './format.js';

const RANGES = [[1, 'Last 24 hours'], [7, 'Last 7 days'], [30, 'Last 30 days'], [90, 'Last 90 days']];
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs ?? {})) node.setAttribute(k, String(v));
  for (const c of children) node.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
  return node;
}

/** One bar per day; the title of each bar is its value. */
function bars(days, value, format, id) {
  const width = 640;
  const height = 140;
  const max = Math.max(...days.map(value), 0) || 1;
  const step = width / Math.max(days.length, 1);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height + 22}`, class: 'chart', id, role: 'img' });
  days.forEach((day, i) => {
    const v = value(day);
    const barHeight = (v / max) * height;
    const bar = svg('rect', {
      x: i * step + step * 0.15, y: height - barHeight, width: Math.max(1, step * 0.7), height: Math.max(barHeight, v > 0 ? 1 : 0), rx: 2, class: 'chart-bar',
    }, svg('title', null, `${day.date}: ${format(v)}`));
    chart.appendChild(bar);
    if (days.length <= 10 || i % Math.ceil(days.length / 10) === 0) {
      chart.appendChild(svg('text', { x: i * step + step / 2, y: height + 16, class: 'chart-label', 'text-anchor': 'middle' }, String(day.date).slice(5)));
    }
  });
  return chart;
}

function card(label, value, id) {
  return h('div', { class: 'card stat' }, h('div', { class: 'fact-label' }, label), h('div', { class: 'stat-value', id }, value));
}

export function dashboardPage(main, context) {
  const days = Number(context.params.get('days')) || 7;
  const picker = h('div', { class: 'segmented', id: 'range' },
    RANGES.map(([d, label]) => h('a', { href: link(['dashboard'], { days: d }), class: d === days ? 'active' : '' }, label)));
  main.appendChild(h('header', { class: 'page-head' }, h('h1', null, 'Dashboard'), picker));
  const body = h('div', { id: 'dashboard' }, h('p', { class: 'muted' }, 'Loading…'));
  main.appendChild(body);
  let stopped = false;
  (async () => {
    const from = new Date(Date.now() - days * 86400_000);
    let answer;
    try {
      answer = await api.get('/api/public/metrics/daily', { fromTimestamp: from.toISOString(), limit: Math.min(days + 1, 100) });
    } catch (error) {
      if (stopped) return;
      body.replaceChildren();
      failure(body, error, context);
      return;
    }
    if (stopped) return;
    // Every day of the range, days without traces as zero, so the charts have a time axis.
    const byDate = new Map((answer.data ?? []).map((d) => [String(d.date), d]));
    const daily = [];
    for (let day = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()));
      day <= new Date(); day = new Date(day.getTime() + 86400_000)) {
      const date = day.toISOString().slice(0, 10);
      daily.push(byDate.get(date) ?? { date, countTraces: 0, countObservations: 0, totalCost: 0, usage: [] });
      byDate.delete(date);
    }
    daily.push(...byDate.values());
    daily.sort((a, b) => String(a.date).localeCompare(String(b.date)));
    const models = new Map();
    let traces = 0;
    let observations = 0;
    let cost = 0;
    let tokens = 0;
    for (const day of daily) {
      traces += Number(day.countTraces) || 0;
      observations += Number(day.countObservations) || 0;
      cost += Number(day.totalCost) || 0;
      day.tokens = 0;
      for (const u of day.usage ?? []) {
        const m = models.get(u.model ?? '(no model)') ?? { input: 0, output: 0, total: 0, observations: 0, traces: 0, cost: 0 };
        m.input += Number(u.inputUsage) || 0;
        m.output += Number(u.outputUsage) || 0;
        m.total += Number(u.totalUsage) || 0;
        m.observations += Number(u.countObservations) || 0;
        m.traces += Number(u.countTraces) || 0;
        m.cost += Number(u.totalCost) || 0;
        models.set(u.model ?? '(no model)', m);
        day.tokens += Number(u.totalUsage) || 0;
      }
      tokens += day.tokens;
    }
    body.replaceChildren(
      h('div', { class: 'stats' },
        card('Traces', fmt.count(traces), 'total-traces'),
        card('Observations', fmt.count(observations), 'total-observations'),
        card('Tokens', fmt.count(tokens), 'total-tokens'),
        card('Total cost', fmt.cost(cost), 'total-cost')),
      h('div', { class: 'split' },
        h('div', { class: 'card' }, h('h3', null, 'Traces per day'), bars(daily, (d) => Number(d.countTraces) || 0, fmt.count, 'chart-traces')),
        h('div', { class: 'card' }, h('h3', null, 'Cost per day'), bars(daily, (d) => Number(d.totalCost) || 0, fmt.cost, 'chart-cost'))),
      h('div', { class: 'card flush' }, h('h3', { class: 'pad' }, 'Usage by model'),
        h('table', { class: 'table', id: 'models-table' },
          h('thead', null, h('tr', null, ['Model', 'Observations', 'Input tokens', 'Output tokens', 'Total tokens', 'Cost']
            .map((c, i) => h('th', { class: i ? 'num' : '' }, c)))),
          h('tbody', null, [...models.entries()].sort((a, b) => b[1].cost - a[1].cost || b[1].total - a[1].total).map(([model, m]) =>
            h('tr', { dataset: { model } }, h('td', null, model), h('td', { class: 'num' }, fmt.count(m.observations)),
              h('td', { class: 'num' }, fmt.count(m.input)), h('td', { class: 'num' }, fmt.count(m.output)),
              h('td', { class: 'num' }, fmt.count(m.total)), h('td', { class: 'num' }, fmt.cost(m.cost))))),
          models.size ? null : h('tfoot', null, h('tr', null, h('td', { class: 'empty', colspan: 6 }, 'No model usage in this range.'))))));
  })();
  return () => {
    stopped = true;
  };
}

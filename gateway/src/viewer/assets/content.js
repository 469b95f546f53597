// Span content: chat messages as a conversation (roles, tool calls, tool results), anything
// else as JSON or text. Long values are cut with a "Show all" toggle, so a 10 MB prompt does
// not freeze the page. Everything is rendered as text nodes.

import { h, token } from './dom.js';

/** Characters shown before a value is cut. */
export const TRUNCATE_AT = 2000;

/** Text in a <pre>, cut at `limit` characters with a toggle to show it whole. */
export function longText(text, className = 'value') {
  const full = String(text);
  const pre = h('pre', { class: className });
  if (full.length <= TRUNCATE_AT) {
    pre.textContent = full;
    return pre;
  }
  const shown = full.slice(0, TRUNCATE_AT);
  pre.textContent = shown + '…';
  let open = false;
  const more = h('button', { type: 'button', class: 'link show-all' },
    `Show all (${full.length.toLocaleString('en-US')} characters)`);
  more.addEventListener('click', () => {
    open = !open;
    pre.textContent = open ? full : shown + '…';
    more.textContent = open ? 'Show less' : `Show all (${full.length.toLocaleString('en-US')} characters)`;
  });
  return h('div', { class: 'truncated' }, pre, more);
}

/** JSON (or a plain string) as text. */
export function jsonView(value) {
  if (value === null || value === undefined) return h('p', { class: 'muted' }, 'null');
  if (typeof value === 'string') return longText(value);
  return longText(JSON.stringify(value, null, 2), 'value json');
}

function parsed(value) {
  if (typeof value !== 'string') return value;
  const t = value.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return value;
  try {
    return JSON.parse(t);
  } catch {
    return value;
  }
}

const isMessage = (m) => m && typeof m === 'object' && !Array.isArray(m) && typeof m.role === 'string';

/** The messages a value holds, or null when it is not a conversation. */
export function asMessages(raw) {
  const value = parsed(raw);
  if (Array.isArray(value) && value.length > 0 && value.every(isMessage)) return value;
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    if (Array.isArray(value.messages) && value.messages.length && value.messages.every(isMessage)) return value.messages;
    if (isMessage(value)) return [value];
    if (Array.isArray(value.choices)) {
      const messages = value.choices.map((c) => c && c.message).filter(isMessage);
      if (messages.length) return messages;
    }
  }
  if (Array.isArray(value) && value.length && value.every((c) => c && isMessage(c.message))) {
    return value.map((c) => c.message);
  }
  return null;
}

function toolCall(name, id, args) {
  const body = parsed(args);
  return h('div', { class: 'tool-call' },
    h('div', { class: 'tool-head' }, h('span', { class: 'chip tool' }, 'tool call'), ' ',
      h('strong', null, String(name ?? '(unnamed)')), id ? h('span', { class: 'muted' }, ` · ${id}`) : null),
    body === undefined ? null : jsonView(body));
}

function toolResult(id, result) {
  return h('div', { class: 'tool-result' },
    h('div', { class: 'tool-head' }, h('span', { class: 'chip result' }, 'tool result'),
      id ? h('span', { class: 'muted' }, ` · ${id}`) : null),
    jsonView(parsed(result)));
}

function part(p) {
  if (typeof p === 'string') return longText(p, 'value text');
  if (!p || typeof p !== 'object') return jsonView(p);
  switch (p.type) {
    case 'text':
    case 'input_text':
    case 'output_text':
      return longText(p.text ?? p.content ?? '', 'value text');
    case 'reasoning':
    case 'thinking':
      return h('div', { class: 'reasoning' }, h('span', { class: 'chip' }, 'reasoning'),
        longText(p.content ?? p.text ?? p.thinking ?? '', 'value text'));
    case 'tool_call':
    case 'tool_use':
    case 'function_call':
      return toolCall(p.name ?? p.function?.name, p.id ?? p.call_id, p.arguments ?? p.input ?? p.function?.arguments);
    case 'tool_call_response':
    case 'tool_result':
    case 'function_call_output':
      return toolResult(p.id ?? p.tool_use_id ?? p.call_id, p.response ?? p.result ?? p.content ?? p.output);
    default:
      return jsonView(p);
  }
}

function message(m) {
  const role = m.role;
  const isTool = role === 'tool' || role === 'function';
  const body = [];
  const content = m.content ?? m.parts;
  if (isTool) {
    body.push(toolResult(m.tool_call_id ?? m.id ?? m.name, content));
  } else if (Array.isArray(content)) {
    for (const p of content) body.push(part(p));
  } else if (content !== undefined && content !== null && content !== '') {
    const c = parsed(content);
    body.push(typeof c === 'string' ? longText(c, 'value text') : jsonView(c));
  }
  for (const call of Array.isArray(m.tool_calls) ? m.tool_calls : []) {
    body.push(toolCall(call?.function?.name ?? call?.name, call?.id, call?.function?.arguments ?? call?.arguments));
  }
  if (m.function_call) body.push(toolCall(m.function_call.name, null, m.function_call.arguments));
  if (body.length === 0) body.push(h('p', { class: 'muted' }, '(empty)'));
  return h('div', { class: `message role-${token(role)}` },
    h('div', { class: 'role' }, String(role), m.name ? h('span', { class: 'muted' }, ` · ${m.name}`) : null),
    body);
}

/** Input or output: a conversation when it is one, else JSON / text. */
export function contentView(raw) {
  const messages = asMessages(raw);
  if (messages) return h('div', { class: 'conversation' }, messages.map(message));
  return jsonView(parsed(raw));
}

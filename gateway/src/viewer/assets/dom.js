// DOM building without HTML parsing: every string becomes a text node, so values from spans
// (names, messages, metadata) always render as text, whatever they contain.

const PROPS = new Set(['href', 'title', 'type', 'value', 'name', 'placeholder', 'id', 'for',
  'autocomplete', 'role', 'min', 'max', 'step', 'selected', 'disabled', 'checked',
  'spellcheck', 'tabindex', 'aria-label', 'aria-expanded', 'required', 'colspan']);

/** h('div', {class: 'x', on: {click}}, 'text', child, [more]) */
export function h(tag, props, ...children) {
  const node = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
      else if (key === 'dataset') Object.assign(node.dataset, value);
      else if (key === 'text') node.textContent = String(value);
      else if (PROPS.has(key)) node.setAttribute(key, value === true ? '' : String(value));
      else throw new Error(`dom.h: attribute ${key} is not allowed`);
    }
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

/** A CSS class fragment from a value (roles, types): letters, digits and dashes only. */
export function token(value) {
  return String(value ?? '').toLowerCase().replace(/[^a-z0-9-]/g, '') || 'other';
}

/** An internal link: `#/path` with each segment encoded, so an id cannot break out. */
export function link(segments, params) {
  let href = '#/' + segments.map((s) => encodeURIComponent(String(s))).join('/');
  if (params) {
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') query.set(k, v);
    const text = query.toString();
    if (text) href += '?' + text;
  }
  return href;
}

/** An API failure on a page: a refused key goes back to sign-in, anything else is shown. */
export function failure(container, error, context) {
  if (error && error.status === 401) {
    context.onUnauthorized();
    return;
  }
  container.appendChild(h('div', { class: 'error-box', role: 'alert' },
    h('strong', null, 'Could not load this page. '),
    String(error && error.message ? error.message : error),
    error && error.status ? ` (HTTP ${error.status})` : ''));
}

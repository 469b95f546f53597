// The viewer's shell: sign-in, navigation and the hash router (#/traces, #/trace/<id>, …).

import { h, clear } from './dom.js';
import * as api from './api.js';
import { tracesPage } from './traces.js';
import { tracePage } from './trace.js';
import { sessionsPage, sessionPage } from './sessions.js';
import { dashboardPage } from './dashboard.js';

const root = document.getElementById('app');
let cleanup = null;
let notice = null;

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const segments = path.split('/').filter(Boolean).map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
  return { segments, params: new URLSearchParams(query) };
}

function signInPage(message) {
  const publicKey = h('input', { id: 'public-key', name: 'public-key', placeholder: 'pk-lf-…', autocomplete: 'username', spellcheck: 'false', required: true });
  const secretKey = h('input', { id: 'secret-key', name: 'secret-key', type: 'password', placeholder: 'sk-lf-…', autocomplete: 'current-password', required: true });
  const error = h('p', { class: 'error', id: 'sign-in-error', role: 'alert' }, message ?? '');
  if (!message) error.hidden = true;
  const button = h('button', { type: 'submit', class: 'primary', id: 'sign-in' }, 'Sign in');
  const form = h('form', { class: 'sign-in', id: 'sign-in-form' },
    h('div', { class: 'brand big' }, h('span', { class: 'logo' }), 'Spanbridge'),
    h('p', { class: 'muted' }, 'Sign in with your project\u2019s API keys (printed at the first start, or `spanbridge keys create`).'),
    h('label', { for: 'public-key' }, 'Public key'), publicKey,
    h('label', { for: 'secret-key' }, 'Secret key'), secretKey,
    error, button,
    h('p', { class: 'muted small' }, 'The keys stay in this browser tab (session storage) and are sent only to this gateway.'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.hidden = true;
    try {
      await api.signIn(publicKey.value.trim(), secretKey.value.trim());
      secretKey.value = '';
      if (!location.hash || location.hash === '#/' || location.hash === '#') location.hash = '#/traces';
      render();
    } catch (e) {
      error.textContent = e.status === 401
        ? 'Wrong key: the gateway refused this public/secret key pair (401). Check both keys.'
        : `Could not sign in: ${e.message}${e.status ? ` (HTTP ${e.status})` : ''}`;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  clear(root).appendChild(h('div', { class: 'center' }, form));
  publicKey.focus();
}

const NAV = [
  ['dashboard', 'Dashboard'],
  ['traces', 'Traces'],
  ['sessions', 'Sessions'],
];

function shell(active) {
  const main = h('main', { class: 'main', id: 'main' });
  const signOut = h('button', { type: 'button', class: 'link', id: 'sign-out' }, 'Sign out');
  signOut.addEventListener('click', () => {
    api.signOut();
    location.hash = '#/';
    render();
  });
  const nav = h('nav', { class: 'sidebar' },
    h('a', { class: 'brand', href: '#/traces' }, h('span', { class: 'logo' }), 'Spanbridge'),
    h('ul', null, NAV.map(([route, label]) => h('li', null,
      h('a', { href: `#/${route}`, class: route === active ? 'active' : '', id: `nav-${route}` }, label)))),
    h('div', { class: 'sidebar-foot' },
      h('div', { class: 'muted small' }, 'Project key'),
      h('div', { class: 'mono small key' }, api.publicKey() ?? ''),
      signOut));
  clear(root).appendChild(h('div', { class: 'layout' }, nav, main));
  return main;
}

/** Called by pages when the API refuses the key mid-session. */
export function expired() {
  api.signOut();
  notice = 'The gateway no longer accepts this key pair (401). Sign in again.';
  render();
}

function render() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  if (!api.signedIn()) {
    const message = notice;
    notice = null;
    signInPage(message);
    return;
  }
  const { segments, params } = parseHash();
  const [page = 'traces', id] = segments;
  const active = { trace: 'traces', session: 'sessions' }[page] ?? page;
  const main = shell(active);
  const context = { params, onUnauthorized: expired };
  let result;
  switch (page) {
    case 'traces': result = tracesPage(main, context); break;
    case 'trace': result = tracePage(main, id, context); break;
    case 'sessions': result = sessionsPage(main, context); break;
    case 'session': result = sessionPage(main, id, context); break;
    case 'dashboard': result = dashboardPage(main, context); break;
    default:
      main.appendChild(h('p', { class: 'error' }, 'No such page.'));
  }
  cleanup = typeof result === 'function' ? result : null;
}

window.addEventListener('hashchange', render);
render();

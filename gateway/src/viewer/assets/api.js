// The public API, read with the project's key pair. The pair lives in sessionStorage (this tab
// only, gone when it closes), is sent only in the Authorization header and never in a URL.

const STORAGE = 'spanbridge.viewer.key';

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function signedIn() {
  return sessionStorage.getItem(STORAGE) !== null;
}

/** The public key of the pair in use (shown in the header; the secret is never shown). */
export function publicKey() {
  try {
    const raw = JSON.parse(sessionStorage.getItem(STORAGE) ?? 'null');
    return raw ? raw.publicKey : null;
  } catch {
    return null;
  }
}

export function signOut() {
  sessionStorage.removeItem(STORAGE);
}

function authorization() {
  const raw = JSON.parse(sessionStorage.getItem(STORAGE) ?? 'null');
  if (!raw) throw new ApiError(401, 'Not signed in.');
  const bytes = new TextEncoder().encode(`${raw.publicKey}:${raw.secretKey}`);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return 'Basic ' + btoa(binary);
}

/** GET `path` with `params` (empty ones left out); the answer's JSON, or an ApiError. */
export async function get(path, params) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params ?? {})) {
    if (Array.isArray(v)) v.forEach((item) => query.append(k, item));
    else if (v !== undefined && v !== null && v !== '') query.set(k, v);
  }
  const url = path + (query.toString() ? '?' + query : '');
  let response;
  try {
    response = await fetch(url, {
      headers: { Authorization: authorization(), Accept: 'application/json' },
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (error) {
    throw new ApiError(0, `The gateway did not answer (${error.message}).`);
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const message = (body && typeof body.message === 'string') ? body.message : response.statusText;
    throw new ApiError(response.status, message);
  }
  return body;
}

/** Stores the pair and checks it against the API; a refused pair is forgotten at once. */
export async function signIn(publicKey, secretKey) {
  sessionStorage.setItem(STORAGE, JSON.stringify({ publicKey, secretKey }));
  try {
    await get('/api/public/traces', { limit: 1 });
  } catch (error) {
    signOut();
    throw error;
  }
}

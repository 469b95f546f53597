// Numbers, times and sizes as the pages show them.

const pad = (n) => String(n).padStart(2, '0');

export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function clock(date) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** Seconds as "850ms", "2.35s", "3m 12s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)}ms`;
  if (seconds < 60) return `${seconds.toFixed(2)}s`;
  const m = Math.floor(seconds / 60);
  return `${m}m ${Math.round(seconds - m * 60)}s`;
}

export function between(startIso, endIso) {
  if (!startIso || !endIso) return null;
  return (new Date(endIso) - new Date(startIso)) / 1000;
}

export function cost(usd) {
  if (usd === null || usd === undefined || usd === '') return '—';
  const n = Number(usd);
  if (!Number.isFinite(n)) return '—';
  if (n === 0) return '$0';
  if (n < 0.01) return '$' + n.toPrecision(3).replace(/0+$/, '').replace(/\.$/, '');
  return '$' + n.toFixed(n < 100 ? 4 : 2);
}

export function count(n) {
  if (n === null || n === undefined || n === '') return '—';
  const v = Number(n);
  return Number.isFinite(v) ? v.toLocaleString('en-US') : '—';
}

/** Total tokens of a usage map (its `total`, else the sum of the others). */
export function tokens(usage) {
  if (!usage || typeof usage !== 'object') return null;
  if (typeof usage.total === 'number') return usage.total;
  const values = Object.values(usage).filter((v) => typeof v === 'number');
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

/** `datetime-local` input value ↔ ISO. */
export function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function fromLocalInput(value) {
  if (!value) return '';
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? '' : d.toISOString();
}

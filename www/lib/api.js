// The merge server's HTTP API as the dashboard uses it: bearer-token requests, problem+json
// answers turned into Errors, and the link between a number on the page and its source.

/** An error answer of the API (application/problem+json), or a network failure. */
export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${detail} (${code}${status ? `, HTTP ${status}` : ''})`);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

/** A client of one tenant of one server. */
export class Api {
  constructor({ base = location.origin, tenant, token }) {
    this.base = base;
    this.tenant = tenant;
    this.token = token;
  }

  /** The path and query of a request (no token: that goes in a header). */
  path(route, params = {}) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      for (const v of Array.isArray(value) ? value : [value]) {
        if (v !== undefined && v !== null) query.append(name, String(v));
      }
    }
    if (this.tenant) query.set('tenant', this.tenant);
    const q = query.toString();
    return q ? `${route}?${q}` : route;
  }

  async fetch(path, init = {}) {
    const headers = { ...(init.headers ?? {}) };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(this.base + path, { ...init, headers, cache: 'no-store' });
    } catch (e) {
      throw new ApiError(0, 'network', `cannot reach the server: ${e.message}`);
    }
    if (!response.ok) {
      let code = 'http_error';
      let detail = response.statusText || 'request failed';
      try {
        const problem = await response.json();
        code = problem.code ?? code;
        detail = problem.detail ?? detail;
      } catch { /* not problem+json */ }
      throw new ApiError(response.status, code, detail);
    }
    return response;
  }

  /** GET a JSON route: `{ path, json }` (the path is what the page records as the source). */
  async json(route, params) {
    const path = this.path(route, params);
    const json = parseJson(await (await this.fetch(path)).text());
    return { path, json };
  }

  /** GET raw bytes (`/v1/raw`). */
  async bytes(params) {
    const path = this.path('/v1/raw', params);
    return new Uint8Array(await (await this.fetch(path)).arrayBuffer());
  }

  /** The EventSource URL of the tenant's changes (EventSource cannot send headers). */
  eventsUrl() {
    const query = new URLSearchParams();
    if (this.tenant) query.set('tenant', this.tenant);
    if (this.token) query.set('token', this.token);
    return `${this.base}/v1/events?${query}`;
  }
}

/**
 * Integers of an answer beyond 2^53, as the server wrote them (u64 counters, sums): holder
 * object -> its key -> the digits. A JS number would show them rounded by a few units.
 */
const exactIntegers = new WeakMap();

/**
 * `JSON.parse`, keeping the digits of integers a number cannot hold (through the reviver's source
 * text, Chromium 114 and later; elsewhere they stay rounded numbers).
 */
export function parseJson(text) {
  return JSON.parse(text, function keepDigits(key, value, context) {
    if (typeof value === 'number' && !Number.isSafeInteger(value) && /^-?\d+$/.test(context?.source ?? '')) {
      const kept = exactIntegers.get(this) ?? new Map();
      kept.set(key, context.source);
      exactIntegers.set(this, kept);
    }
    return value;
  });
}

/** The digits of the integer at `path` of a parsed answer, if a number rounded it. */
function exactInteger(json, path) {
  const keys = path.split('.');
  const holder = at(json, keys.slice(0, -1).join('.'));
  return holder && typeof holder === 'object' ? exactIntegers.get(holder)?.get(keys[keys.length - 1]) : undefined;
}

/** Reads `a.b.0.c` out of a JSON value. */
export function at(value, path) {
  if (path === '') return value;
  return path.split('.').reduce((v, k) => (v == null ? undefined : v[k]), value);
}

/**
 * Shows `at(source.json, field)` in `el`, formatted by `format`, and records where it came from
 * (`data-api`, `data-path`, `data-value`) so anyone can check the page against the API.
 */
export function show(el, source, field, format = formatNumber) {
  const value = at(source.json, field);
  // Integers past 2^53 as the server wrote them, where the format is the plain number one.
  const digits = format === formatNumber ? exactInteger(source.json, field) : undefined;
  el.textContent = value === undefined || value === null ? '–' : format(digits === undefined ? value : BigInt(digits));
  el.dataset.api = source.path;
  el.dataset.path = field;
  el.dataset.value = digits ?? JSON.stringify(value ?? null);
  return value;
}

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 });

const scientific = new Intl.NumberFormat('en-US', { notation: 'scientific', maximumSignificantDigits: 4 });

/**
 * Integers with separators; other numbers to 4 significant digits; beyond 10^15 (and below
 * 10^-6) in scientific notation, so that a huge value does not print hundreds of digits.
 */
export function formatNumber(v) {
  if (typeof v === 'bigint') return integer.format(v);
  if (typeof v !== 'number') return String(v);
  const magnitude = Math.abs(v);
  if (magnitude >= 1e15 || (magnitude > 0 && magnitude < 1e-6)) return scientific.format(v);
  return Number.isInteger(v) || magnitude >= 1000 ? integer.format(v) : decimal.format(v);
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = -1;
  do { v /= 1024; i += 1; } while (v >= 1024 && i < units.length - 1);
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatPercent(fraction) {
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 2 : 1)}%`;
}

export function formatAgo(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/** A table cell or any element, with text. */
export function el(tag, text, attrs = {}) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

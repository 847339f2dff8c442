// REST helper for taskhub (PROTOCOL.md §4, DECISIONS "REST"). Uses fetch, so it
// runs in browsers and Node 18+. Every method returns the envelope's `data` and
// throws a TaskhubError carrying {status, code, message} on `success:false`.

import { TaskhubError } from './util.js';

/**
 * @typedef {object} ApiOptions
 * @property {string} [baseUrl] e.g. `http://127.0.0.1:8080`; default '' (same origin)
 * @property {string | null} [token] access JWT sent as `Authorization: Bearer`
 * @property {string | null} [refreshToken] used by refresh() and logout() when none is passed
 * @property {string | null} [apiKey] sent as `X-API-Key`
 * @property {typeof fetch} [fetch] fetch implementation; default globalThis.fetch
 */

/**
 * @typedef {object} RawResponse
 * @property {number} status
 * @property {boolean} ok
 * @property {Record<string, string>} headers
 * @property {string} text the body as received
 * @property {any} json the parsed body, or undefined when it is not JSON
 */

/** REST client. Auth responses (register, login, testLogin, refresh) store the tokens. */
/**
 * The `Idempotency-Key` header of `opts`, if it has a key.
 * @param {{idempotencyKey?: string}} opts
 * @returns {Record<string, string> | undefined}
 */
function keyHeader(opts) {
  return opts.idempotencyKey ? { 'Idempotency-Key': opts.idempotencyKey } : undefined;
}

export class TaskhubApi {
  /** @param {ApiOptions} [options] */
  constructor(options = {}) {
    this.baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
    this.token = options.token ?? null;
    this.refreshToken = options.refreshToken ?? null;
    this.apiKey = options.apiKey ?? null;
    this._fetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
    if (typeof this._fetch !== 'function') throw new TypeError('no fetch implementation');
  }

  /**
   * Build a URL from a path and query parameters (undefined/null/'' values dropped).
   * @param {string} path
   * @param {Record<string, unknown>} [query]
   * @returns {string}
   */
  url(path, query) {
    let url = this.baseUrl + path;
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
    }
    const s = qs.toString();
    if (s) url += (url.includes('?') ? '&' : '?') + s;
    return url;
  }

  /**
   * Send a request and return the raw outcome, never throwing on HTTP errors
   * (network failures still throw). The QA pages use this to show responses.
   * @param {string} method
   * @param {string} path
   * @param {{query?: Record<string, unknown>, body?: unknown, headers?: Record<string, string>, auth?: boolean}} [opts]
   * @returns {Promise<RawResponse>}
   */
  async raw(method, path, opts = {}) {
    /** @type {Record<string, string>} */
    const headers = { Accept: 'application/json', ...(opts.headers ?? {}) };
    if (opts.auth !== false && this.token) headers.Authorization = `Bearer ${this.token}`;
    if (opts.auth !== false && this.apiKey) headers['X-API-Key'] = this.apiKey;
    let body;
    if (opts.body instanceof FormData) {
      body = opts.body; // fetch sets the multipart boundary itself
    } else if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await this._fetch(this.url(path, opts.query), { method, headers, body });
    const text = await res.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
    /** @type {Record<string, string>} */
    const hdrs = {};
    res.headers?.forEach?.((v, k) => { hdrs[k] = v; });
    return { status: res.status, ok: res.ok, headers: hdrs, text, json };
  }

  /**
   * Send a request and unwrap the `{success, data}` envelope.
   * @param {string} method
   * @param {string} path
   * @param {{query?: Record<string, unknown>, body?: unknown, headers?: Record<string, string>, auth?: boolean}} [opts]
   * @returns {Promise<any>} the envelope's `data`
   * @throws {TaskhubError} with status, code and message on failure
   */
  async request(method, path, opts = {}) {
    const r = await this.raw(method, path, opts);
    const env = r.json;
    if (env && env.success === true) return env.data;
    if (env && env.success === false) {
      const e = env.error ?? {};
      throw new TaskhubError(e.message ?? `HTTP ${r.status}`, { status: r.status, code: e.code ?? 'unknown', details: e });
    }
    if (r.ok && r.status === 204) return null;
    throw new TaskhubError(`unexpected response (HTTP ${r.status}): ${r.text.slice(0, 200)}`, {
      status: r.status, code: r.ok ? 'badResponse' : 'httpError', details: r.text,
    });
  }

  /** @param {any} data token response; stores accessToken/refreshToken @returns {any} */
  _keepTokens(data) {
    if (data?.accessToken) this.token = data.accessToken;
    if (data?.refreshToken) this.refreshToken = data.refreshToken;
    return data;
  }

  // ---- auth -----------------------------------------------------------------

  /** @param {{username: string, email: string, password: string}} body @returns {Promise<any>} token response */
  async register(body) {
    return this._keepTokens(await this.request('POST', '/api/auth/register', { body, auth: false }));
  }

  /**
   * @param {string | {login?: string, username?: string, email?: string, password: string}} login username/email, or the whole body
   * @param {string} [password]
   * @returns {Promise<any>} token response
   */
  async login(login, password) {
    const body = typeof login === 'string' ? { login, password } : login;
    return this._keepTokens(await this.request('POST', '/api/auth/login', { body, auth: false }));
  }

  /** Development-only login that creates the user if needed. @param {string} email @returns {Promise<any>} */
  async testLogin(email) {
    return this._keepTokens(await this.request('POST', '/api/auth/test/login', { query: { email }, auth: false }));
  }

  /** @param {string} [refreshToken] default: the stored one @returns {Promise<any>} token response */
  async refresh(refreshToken = this.refreshToken) {
    return this._keepTokens(await this.request('POST', '/api/auth/refresh', { body: { refreshToken }, auth: false }));
  }

  /** @param {string} [refreshToken] default: the stored one @returns {Promise<any>} */
  async logout(refreshToken = this.refreshToken) {
    const data = await this.request('POST', '/api/auth/logout', { body: { refreshToken } });
    this.token = null;
    this.refreshToken = null;
    return data;
  }

  /** @returns {Promise<any>} the signed-in user */
  me() { return this.request('GET', '/api/auth/me'); }

  // ---- video tasks ------------------------------------------------------------

  /**
   * Create a task. Pass JSON params (text-to-video), params with an `image`
   * Blob/File (sent as multipart), or a ready FormData.
   * With `opts.idempotencyKey` (one per task the user means to make: a
   * `crypto.randomUUID()`, say), calling again with the same params and key, after a call
   * whose answer never came, returns the task the first call made instead of making (and
   * charging) a second one.
   * @param {FormData | {prompt: string, model?: string, seconds?: number|string, size?: string, quality?: string, webhookUrl?: string, referenceImageUrl?: string, image?: Blob}} params
   * @param {{idempotencyKey?: string}} [opts]
   * @returns {Promise<any>} the created task
   */
  createTask(params, opts = {}) {
    let body = params;
    if (!(params instanceof FormData) && params?.image) {
      body = new FormData();
      for (const [k, v] of Object.entries(params)) {
        if (k === 'image' || v === undefined || v === null || v === '') continue;
        body.append(k, String(v));
      }
      const image = /** @type {Blob & {name?: string}} */ (params.image);
      body.append('image', image, image.name ?? 'image');
    }
    const headers = keyHeader(opts);
    return this.request('POST', '/api/video/tasks', { body, headers });
  }

  /** @param {{page?: number, pageSize?: number, status?: string}} [query] @returns {Promise<{items: any[], total: number, page: number, pageSize: number}>} */
  listTasks(query = {}) { return this.request('GET', '/api/video/tasks', { query }); }

  /** @param {string} videoId @returns {Promise<any>} */
  getTask(videoId) { return this.request('GET', `/api/video/tasks/${encodeURIComponent(videoId)}`); }

  /** @param {string} videoId @param {number} [sinceSeq] @returns {Promise<any>} the task's event frames */
  events(videoId, sinceSeq) {
    return this.request('GET', `/api/video/tasks/${encodeURIComponent(videoId)}/events`, { query: { sinceSeq } });
  }

  /** @param {string} videoId @returns {Promise<any>} */
  cancel(videoId) { return this.request('POST', `/api/video/tasks/${encodeURIComponent(videoId)}/cancel`); }

  /**
   * @param {string} videoId a failed task
   * @param {{idempotencyKey?: string}} [opts] as for `createTask`: the same call again returns the task the first one made
   * @returns {Promise<any>} the new task
   */
  retry(videoId, opts = {}) {
    const headers = keyHeader(opts);
    return this.request('POST', `/api/video/tasks/${encodeURIComponent(videoId)}/retry`, { headers });
  }

  /** @param {string} videoId @returns {Promise<any>} */
  delete(videoId) { return this.request('DELETE', `/api/video/tasks/${encodeURIComponent(videoId)}`); }

  /** @param {string} videoId @returns {Promise<{videoId: string, externalVideoId: string|null, url: string}>} */
  content(videoId) { return this.request('GET', `/api/video/tasks/${encodeURIComponent(videoId)}/content`); }

  /** @returns {Promise<any>} counts by status, credits spent */
  stats() { return this.request('GET', '/api/video/stats'); }

  /** @returns {Promise<any>} models with allowed seconds, sizes and prices */
  models() { return this.request('GET', '/api/video/models'); }

  // ---- credits and payments ---------------------------------------------------

  /** @returns {Promise<any>} the user's credit balance */
  credits() { return this.request('GET', '/api/users/credits'); }

  /** @param {{page?: number, pageSize?: number}} [query] @returns {Promise<any>} */
  creditTransactions(query = {}) { return this.request('GET', '/api/users/credits/transactions', { query }); }

  // ---- profile ------------------------------------------------------------------

  /** @returns {Promise<any>} the signed-in user's profile */
  profile() { return this.request('GET', '/api/users/profile'); }

  /**
   * Change some profile fields; `null` clears displayName or avatarUrl.
   * @param {{displayName?: string | null, avatarUrl?: string | null, language?: string, showInRecent?: boolean}} patch
   * @returns {Promise<any>} the profile as changed
   */
  updateProfile(patch) { return this.request('PATCH', '/api/users/profile', { body: patch }); }

  /** @returns {Promise<any>} public: `{totalUsers, users: [{displayName, avatarUrl}]}` */
  recentUsers() { return this.request('GET', '/api/users/recent', { auth: false }); }

  /** @returns {Promise<any>} credit packages on sale */
  paymentPackages() { return this.request('GET', '/api/payments/packages'); }

  // ---- service ----------------------------------------------------------------

  /** @returns {Promise<any>} liveness (raw JSON body, which may not use the envelope) */
  async health() { return (await this.raw('GET', '/health', { auth: false })).json; }
}

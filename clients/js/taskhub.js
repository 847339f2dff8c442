// taskhub client: one WebSocket to the hub (PROTOCOL.md §3), plus the REST helper.
// ESM, no build step, no dependencies. Browsers use the global WebSocket; Node 20
// has none, so pass one in: `new TaskhubClient({ url, WebSocket: (await import('ws')).default })`.

import {
  Emitter, TaskhubError, computeBackoff, parseExpiresAt, toWebSocketUrl,
  dataToString, reportListenerError, TERMINAL_STATUSES, TASK_EVENT_TYPES,
} from './util.js';
import { Subscriptions, rejectWaiters } from './subscriptions.js';
import { PendingRequests } from './requests.js';

export { TaskhubApi } from './api.js';
export {
  Emitter, TaskhubError, computeBackoff, parseExpiresAt, toWebSocketUrl,
  TERMINAL_STATUSES, TASK_EVENT_TYPES,
};

const OPEN = 1; // WebSocket.OPEN, the same in every implementation

/**
 * @typedef {object} Frame
 * @property {string} type
 * @property {number} [timestamp] Unix milliseconds
 * @property {any} payload
 * @property {string} [requestId]
 */

/**
 * @typedef {object} ClientOptions
 * @property {string} [url] `ws(s)://host/ws` or `http(s)://host`; default: this page's origin
 * @property {any} [WebSocket] WebSocket constructor; default `globalThis.WebSocket`
 * @property {string | (() => string | null | Promise<string | null>)} [token] access JWT, or a (possibly async) getter called on every (re)connect
 * @property {() => string | null | Promise<string | null>} [getToken] same as a function `token`
 * @property {() => string | Promise<string>} [onTokenRefresh] returns a fresh access token; called before expiry and once after close 4001. Default: the token getter, if any
 * @property {number} [refreshBeforeMs] refresh this long before `authSuccess.expiresAt` (default 60000; never earlier than half the remaining lifetime)
 * @property {number} [requestTimeoutMs] how long a request waits for its reply (default 10000)
 * @property {boolean | {initialMs?: number, maxMs?: number, factor?: number, maxAttempts?: number, resetAfterMs?: number}} [reconnect] auto-reconnect (default true; backoff 500ms doubling, capped at 30s, full jitter)
 * @property {() => number} [random] random source in [0,1) for jitter (tests)
 */

/**
 * WebSocket client for the taskhub hub: authentication, request/response
 * correlation, task and user subscriptions with gap-free resubscription after
 * reconnects, duplicate suppression by `seq`, and token refresh.
 *
 * Events (`on`/`off`): every frame type (`connected`, `authSuccess`, `taskProgress`, ...)
 * with the frame; `frame` (every frame kept), `duplicate` (frames dropped by seq),
 * `open`, `ready`, `close`, `state`, `reconnecting`, `authFailed`, and `error`
 * (a {@link TaskhubError}, from an `error` frame or from the client itself).
 */
export class TaskhubClient extends Emitter {
  /** @param {ClientOptions} [options] */
  constructor(options = {}) {
    super();
    this._url = toWebSocketUrl(options.url);
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    if (typeof this._WebSocket !== 'function') {
      throw new TypeError('no WebSocket implementation: pass options.WebSocket (e.g. from the "ws" package)');
    }
    const tokenOpt = options.getToken ?? options.token ?? null;
    /** @type {(() => any) | null} */
    this._tokenGetter = typeof tokenOpt === 'function' ? tokenOpt : null;
    /** @type {string | null} */
    this._token = typeof tokenOpt === 'string' ? tokenOpt : null;
    this._onTokenRefresh = options.onTokenRefresh ?? null;
    this._refreshBeforeMs = options.refreshBeforeMs ?? 60_000;
    this._requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    const rc = options.reconnect ?? true;
    this._reconnect = rc === false ? null : { initialMs: 500, maxMs: 30_000, factor: 2, maxAttempts: Infinity, resetAfterMs: 5_000, ...(rc === true ? {} : rc) };
    this._random = options.random ?? Math.random;

    this._state = 'idle';
    this._ws = null;
    this._gen = 0; // socket generation: events of replaced sockets are ignored
    this._pending = new PendingRequests();
    this._subs = new Subscriptions((err, type) => {
      if (!this.emit('listenerError', err, type)) reportListenerError(err, type);
    });
    this._attempt = 0;
    this._reconnectHintMs = null;
    this._authRetryUsed = false;
    this._useTokenOnce = false;
    this._lastAuthError = null;
    this._everReady = false;
    this._readyAt = 0;
    this._timers = { reconnect: null, refresh: null };
    /** @type {{resolve: Function, reject: Function}[]} */
    this._readyWaiters = [];
    /** Payload of the last `connected` frame. */
    this.connection = null;
    /** Payload of the last `authSuccess` frame. */
    this.session = null;
  }

  /** @returns {string} idle | connecting | authenticating | ready | reconnecting | closed */
  get state() { return this._state; }
  /** @returns {any} the underlying WebSocket, or null (e.g. to force-close it in tests) */
  get socket() { return this._ws; }
  /** @returns {string} the WebSocket URL */
  get url() { return this._url; }

  /**
   * Open the socket (if not open) and resolve once it is ready: authenticated when
   * a token source is configured, else once `connected` arrived. With reconnect on,
   * failed attempts are retried and the promise waits; it rejects when the client
   * stops for good (auth failed, close(), maxAttempts).
   * @returns {Promise<void>}
   */
  connect() {
    if (this._state === 'ready') return Promise.resolve();
    const p = new Promise((resolve, reject) => this._readyWaiters.push({ resolve, reject }));
    p.catch(() => {}); // failures are also emitted ('authFailed', 'close'): never an unhandled rejection
    if (this._state === 'idle' || this._state === 'closed') {
      this._closedByUser = false;
      this._attempt = 0;
      this._authRetryUsed = false;
      this._open();
    }
    return p;
  }

  /**
   * Close the socket and stop reconnecting. Subscriptions are kept, so a later
   * connect() resubscribes them.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = 'client closed') {
    this._closedByUser = true;
    this._clearTimers();
    const ws = this._ws;
    this._ws = null;
    this._gen++;
    if (ws) { try { ws.close(code, reason); } catch { /* already closing */ } }
    this._pending.failAll('closed', 'client closed');
    this._subs.markInactive();
    this._rejectReady(new TaskhubError('client closed', { code: 'closed' }));
    if (this._state !== 'closed') {
      this._setState('closed');
      this.emit('close', { code, reason, willReconnect: false });
    }
  }

  /**
   * Send a frame and wait for the reply with the same requestId. Resolves with
   * the reply's payload; rejects with a TaskhubError on an `error`/`authError`
   * reply (its code), a timeout (`timeout`) or a lost socket (`disconnected`).
   * @param {string} type
   * @param {object} [payload]
   * @param {{timeoutMs?: number}} [opts]
   * @returns {Promise<any>}
   */
  request(type, payload = {}, opts = {}) {
    const ws = this._ws;
    if (!ws || ws.readyState !== OPEN) {
      return Promise.reject(new TaskhubError('not connected', { code: 'notConnected' }));
    }
    return this._pending.start(type, payload, opts.timeoutMs ?? this._requestTimeoutMs,
      (frame) => ws.send(JSON.stringify(frame)));
  }

  /** @returns {Promise<{serverTime: number}>} */
  ping() { return this.request('ping', {}); }

  /**
   * Authenticate (or extend the session of) the open socket. Without an argument
   * the configured token source is used. Resolves with the `authSuccess` payload.
   * @param {string} [token]
   * @returns {Promise<any>}
   */
  async auth(token) {
    const t = token ?? (await this._tokenForConnect());
    if (!t) throw new TaskhubError('no token', { code: 'unauthorized' });
    this._token = t;
    return this.request('auth', { token: t });
  }

  /**
   * Follow a task. `handler(frame)` gets the `subscribed` frame (payload
   * `{videoId, task, replayed}`) and then every task frame with a new seq (a
   * handler added to an already active subscription starts with the next frame;
   * the promise gives it the last snapshot). After
   * a reconnect the task is resubscribed with `sinceSeq` = the last seq seen, and
   * frames at or below it are dropped. Resolves with the `subscribed` payload
   * (waiting for the connection if it is not ready yet); rejects with the
   * server's error (e.g. `forbidden`), which also drops the subscription.
   * @param {string} videoId
   * @param {(frame: Frame) => void} [handler]
   * @param {{sinceSeq?: number}} [opts] replay the events after this seq
   * @returns {Promise<any>}
   */
  subscribeTask(videoId, handler, opts = {}) {
    if (!videoId) return Promise.reject(new TypeError('videoId is required'));
    const { sub, promise } = this._subs.addTask(videoId, handler, opts.sinceSeq);
    if (this._state === 'ready' && !sub.inflight && !sub.active) this._sendSubscribe(sub);
    return promise;
  }

  /**
   * Stop following a task. With `handler`, only that handler is removed, and the
   * server is told only when none is left.
   * @param {string} videoId
   * @param {(frame: Frame) => void} [handler]
   * @returns {Promise<void>}
   */
  async unsubscribeTask(videoId, handler) {
    const sub = this._subs.removeTask(videoId, handler);
    if (!sub) return;
    rejectWaiters(sub, new TaskhubError('unsubscribed', { code: 'cancelled' }));
    if (this._state === 'ready' && (sub.active || sub.inflight)) {
      await this.request('unsubscribe_task', { videoId });
    }
  }

  /**
   * Receive the frames of every task of the signed-in user (`taskCreated`
   * included). Resubscribed after reconnects. Resolves with the `subscribed` payload.
   * @param {(frame: Frame) => void} [handler]
   * @returns {Promise<any>}
   */
  subscribeUser(handler) {
    const { sub, promise } = this._subs.addUser(handler);
    if (this._state === 'ready' && !sub.inflight && !sub.active) this._sendUserSubscribe();
    return promise;
  }

  /**
   * Remove a user-scope handler (all of them without an argument). When none is
   * left the server is told (`unsubscribe_user`) and the scope is not
   * resubscribed after reconnects.
   * @param {(frame: Frame) => void} [handler]
   * @returns {Promise<void>}
   */
  async unsubscribeUser(handler) {
    const sub = this._subs.removeUser(handler);
    if (sub && this._state === 'ready' && (sub.active || sub.inflight)) {
      await this.request('unsubscribe_user', {});
    }
  }

  /**
   * @param {string} videoId
   * @returns {number | undefined} the last seq seen for the task
   */
  lastSeq(videoId) { return this._subs.seqs.get(videoId); }

  // ---- connection lifecycle -------------------------------------------------

  _setState(state) {
    if (state === this._state) return;
    const prev = this._state;
    this._state = state;
    this.emit('state', state, prev);
  }

  _open() {
    const gen = ++this._gen;
    this._setState('connecting');
    let ws;
    try {
      ws = new this._WebSocket(this._url);
    } catch (err) {
      this.emit('error', new TaskhubError(`cannot open socket: ${err?.message ?? err}`, { code: 'socketError' }));
      queueMicrotask(() => { if (gen === this._gen) this._onClose(1006, 'constructor failed'); });
      return;
    }
    this._ws = ws;
    const listen = (name, fn) => {
      const guarded = (ev) => { if (gen === this._gen) fn(ev); };
      if (typeof ws.addEventListener === 'function') ws.addEventListener(name, guarded);
      else ws[`on${name}`] = guarded;
    };
    listen('open', () => this.emit('open', { url: this._url }));
    listen('message', (ev) => this._onMessage(ev.data));
    listen('error', () => this.emit('error', new TaskhubError('WebSocket error', { code: 'socketError' })));
    listen('close', (ev) => this._onClose(ev.code ?? 1006, ev.reason ?? ''));
  }

  _hasTokenSource() { return Boolean(this._tokenGetter || this._token); }

  async _tokenForConnect() {
    if (this._useTokenOnce || !this._tokenGetter) {
      this._useTokenOnce = false;
      return this._token;
    }
    const t = await this._tokenGetter();
    if (t) this._token = t;
    return t ?? null;
  }

  /** @returns {(() => any) | null} the hook that yields a fresh token */
  _refreshFn() { return this._onTokenRefresh ?? this._tokenGetter; }

  async _authenticate(gen) {
    if (!this._hasTokenSource()) { this._onReady(); return; }
    this._setState('authenticating');
    let token;
    try {
      token = await this._tokenForConnect();
    } catch (err) {
      this.emit('error', new TaskhubError(`token getter failed: ${err?.message ?? err}`, { code: 'tokenUnavailable' }));
      // Try again on a new socket, with backoff, rather than sit unauthenticated.
      if (gen === this._gen && this._ws) this._ws.close(4000, 'token unavailable');
      return;
    }
    if (gen !== this._gen) return;
    if (!token) { this._onReady(); return; }
    // The authSuccess/authError frame is handled in _onFrame; a timeout means a
    // stuck socket, so drop it and let reconnect logic take over.
    this.request('auth', { token }).catch((err) => {
      if (err.code === 'timeout' && gen === this._gen && this._ws) this._ws.close(4000, 'auth timeout');
    });
  }

  _onReady() {
    const reconnected = this._everReady;
    this._everReady = true;
    this._readyAt = Date.now();
    this._setState('ready');
    for (const sub of this._subs.toResubscribe()) this._sendSubscribe(sub);
    const user = this._subs.user;
    if (user && !user.inflight && !user.active) this._sendUserSubscribe();
    this.emit('ready', { session: this.session, connection: this.connection, reconnected });
    const waiters = this._readyWaiters.splice(0);
    for (const w of waiters) w.resolve();
  }

  _onClose(code, reason) {
    this._ws = null;
    this._gen++;
    clearTimeout(this._timers.refresh);
    const wasReady = this._state === 'ready';
    this._pending.failAll('disconnected', `socket closed (${code})`);
    this._subs.markInactive();
    if (this._closedByUser) return;
    if (wasReady && this._reconnect && Date.now() - this._readyAt >= this._reconnect.resetAfterMs) this._attempt = 0;

    if (code === 4001) { this._onAuthClose(code, reason); return; }
    if (!this._reconnect) { this._stop(code, reason, new TaskhubError(`socket closed (${code})`, { code: 'disconnected' })); return; }
    let delayMs;
    if (this._reconnectHintMs !== null) {
      delayMs = this._reconnectHintMs; // the server said when to come back
      this._reconnectHintMs = null;
    } else {
      if (this._attempt >= this._reconnect.maxAttempts) {
        this._stop(code, reason, new TaskhubError('gave up reconnecting', { code: 'disconnected' }));
        return;
      }
      delayMs = computeBackoff(this._attempt++, this._reconnect, this._random);
    }
    this._scheduleReconnect(code, reason, delayMs);
  }

  async _onAuthClose(code, reason) {
    const refresh = this._refreshFn();
    const authErr = this._lastAuthError ?? new TaskhubError(reason || 'authentication failed', { code: 'unauthorized' });
    if (!refresh || this._authRetryUsed || !this._reconnect) { this._stopAuth(code, reason, authErr); return; }
    this._authRetryUsed = true; // once per failure; reset by the next authSuccess
    this._setState('reconnecting');
    this.emit('close', { code, reason, willReconnect: true, delayMs: 0 });
    let token = null;
    try { token = await refresh(); } catch (err) { authErr.cause = err; }
    if (this._closedByUser) return;
    if (!token) { this._stopAuth(code, reason, authErr, false); return; }
    this._token = token;
    this._useTokenOnce = true;
    this._lastAuthError = null;
    this.emit('reconnecting', { attempt: this._attempt, delayMs: 0, code, reason });
    this._open();
  }

  _stopAuth(code, reason, err, emitClose = true) {
    this._setState('closed');
    if (emitClose) this.emit('close', { code, reason, willReconnect: false });
    this.emit('authFailed', err);
    this._rejectReady(err);
  }

  _stop(code, reason, err) {
    this._setState('closed');
    this.emit('close', { code, reason, willReconnect: false });
    this._rejectReady(err);
  }

  _scheduleReconnect(code, reason, delayMs) {
    this._setState('reconnecting');
    this.emit('close', { code, reason, willReconnect: true, delayMs });
    this.emit('reconnecting', { attempt: this._attempt, delayMs, code, reason });
    clearTimeout(this._timers.reconnect);
    this._timers.reconnect = setTimeout(() => {
      this._timers.reconnect = null;
      if (!this._closedByUser) this._open();
    }, delayMs);
  }

  _rejectReady(err) {
    const waiters = this._readyWaiters.splice(0);
    for (const w of waiters) w.reject(err);
  }

  _clearTimers() {
    clearTimeout(this._timers.reconnect);
    clearTimeout(this._timers.refresh);
    this._timers.reconnect = this._timers.refresh = null;
  }

  // ---- token refresh before expiry -----------------------------------------

  _scheduleRefresh(expiresAt, serverNow) {
    clearTimeout(this._timers.refresh);
    const exp = parseExpiresAt(expiresAt);
    if (exp === null || !this._refreshFn()) return;
    // Measure the remaining lifetime on the server's clock when we have it.
    const now = typeof serverNow === 'number' ? serverNow : Date.now();
    const remaining = exp - now;
    const delay = Math.max(0, remaining - this._refreshBeforeMs, remaining / 2);
    const gen = this._gen;
    this._timers.refresh = setTimeout(() => this._refreshNow(gen), Math.min(delay, 2 ** 31 - 1));
  }

  async _refreshNow(gen) {
    let token;
    try {
      token = await this._refreshFn()();
    } catch (err) {
      this.emit('error', new TaskhubError(`token refresh failed: ${err?.message ?? err}`, { code: 'tokenRefreshFailed' }));
      return;
    }
    if (!token || gen !== this._gen || this._state !== 'ready') return;
    this._token = token;
    this.request('auth', { token }).catch((err) => {
      this.emit('error', new TaskhubError(`re-auth failed: ${err.message}`, { code: err.code ?? 'tokenRefreshFailed' }));
    });
  }

  // ---- subscriptions --------------------------------------------------------

  _sendSubscribe(sub) {
    this.request('subscribe_task', this._subs.subscribePayload(sub)).catch((err) => {
      if (this._subs.tasks.get(sub.videoId) !== sub) return;
      sub.inflight = false;
      if (err.code === 'disconnected' || err.code === 'closed') return; // retried on the next ready
      if (!err.frame) this.emit('error', err); // server errors were emitted with their frame
      rejectWaiters(sub, err);
      if (err.code !== 'timeout') this._subs.removeTask(sub.videoId); // forbidden/notFound: not ours
    });
  }

  _sendUserSubscribe() {
    const sub = this._subs.user;
    sub.inflight = true;
    this.request('subscribe_user', {}).catch((err) => {
      if (this._subs.user !== sub) return;
      sub.inflight = false;
      if (err.code === 'disconnected' || err.code === 'closed') return;
      if (!err.frame) this.emit('error', err);
      rejectWaiters(sub, err);
    });
  }

  // ---- incoming frames ------------------------------------------------------

  _onMessage(data) {
    let frame;
    try {
      frame = JSON.parse(dataToString(data));
    } catch {
      this.emit('error', new TaskhubError('unparseable frame', { code: 'badFrame', details: data }));
      return;
    }
    if (!frame || typeof frame.type !== 'string') {
      this.emit('error', new TaskhubError('frame without type', { code: 'badFrame', details: frame }));
      return;
    }
    this._onFrame(frame);
  }

  _onFrame(frame) {
    const p = frame.payload ?? {};
    if (!this._subs.accept(frame)) { this.emit('duplicate', frame); return; }
    switch (frame.type) {
      case 'connected':
        this.connection = p;
        this._authenticate(this._gen);
        break;
      case 'authSuccess':
        this.session = p;
        this._authRetryUsed = false;
        this._lastAuthError = null;
        this._scheduleRefresh(p.expiresAt, frame.timestamp);
        if (this._state !== 'ready') this._onReady();
        break;
      case 'authError':
        this._lastAuthError = new TaskhubError(p.message ?? 'authentication failed', { code: p.code ?? 'unauthorized', frame });
        break;
      case 'subscribed':
        this._subs.onSubscribed(frame);
        break;
      case 'reconnect': {
        const after = Number(p.retryAfterMs);
        const base = Number.isFinite(after) && after >= 0 ? after : 0;
        const jitter = this._reconnect ? Math.floor(this._random() * this._reconnect.initialMs) : 0;
        this._reconnectHintMs = base + jitter; // spread a draining node's clients a little
        break;
      }
      default:
        break;
    }
    this._pending.settle(frame);
    this.emit('frame', frame);
    if (frame.type === 'error') {
      this.emit('error', new TaskhubError(p.message ?? 'server error', { code: p.code, frame }));
    } else {
      this.emit(frame.type, frame);
    }
  }
}

/**
 * @param {string} status a task status
 * @returns {boolean} whether it is terminal (completed, failed, cancelled)
 */
export function isTerminalStatus(status) {
  return TERMINAL_STATUSES.includes(status);
}

// Small pieces shared by the WebSocket client and the REST helper.
// No dependencies: runs unchanged in browsers and in Node 20.

/** Task statuses after which a task never changes again (PROTOCOL §2). */
export const TERMINAL_STATUSES = Object.freeze(['completed', 'failed', 'cancelled']);

/** Frame types that carry a task event (PROTOCOL §3, server -> client). */
export const TASK_EVENT_TYPES = Object.freeze([
  'taskCreated',
  'taskProgress',
  'taskCompleted',
  'taskFailed',
  'taskCancelled',
]);

/**
 * An error with the fields of the contract's error object.
 * Thrown by the REST helper on `success:false`, and used to reject WebSocket
 * requests answered by an `error`/`authError` frame or that timed out.
 */
export class TaskhubError extends Error {
  /**
   * @param {string} message human-readable message
   * @param {{code?: string, status?: number, details?: unknown, frame?: object}} [info]
   */
  constructor(message, info = {}) {
    super(message);
    this.name = 'TaskhubError';
    /** @type {string} camelCase error code, e.g. `notFound`, `timeout`, `disconnected` */
    this.code = info.code ?? 'unknown';
    /** @type {number|undefined} HTTP status for REST errors */
    this.status = info.status;
    /** @type {unknown} anything else the server sent */
    this.details = info.details;
    /** @type {object|undefined} the WebSocket frame that caused the error, if any */
    this.frame = info.frame;
  }
}

/**
 * Minimal event emitter. Unlike Node's EventEmitter, an `error` event with no
 * listener does not throw, and a throwing listener never breaks the client.
 */
export class Emitter {
  constructor() {
    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map();
  }

  /**
   * Listen for an event. Returns a function that removes the listener.
   * @param {string} event
   * @param {Function} fn
   * @returns {() => void}
   */
  on(event, fn) {
    if (typeof fn !== 'function') throw new TypeError('listener must be a function');
    let set = this._listeners.get(event);
    if (!set) this._listeners.set(event, (set = new Set()));
    set.add(fn);
    return () => this.off(event, fn);
  }

  /**
   * Listen for one occurrence of an event.
   * @param {string} event
   * @param {Function} fn
   * @returns {() => void}
   */
  once(event, fn) {
    const wrapper = (...args) => {
      this.off(event, wrapper);
      fn(...args);
    };
    return this.on(event, wrapper);
  }

  /**
   * Remove a listener (or, without `fn`, every listener of the event).
   * @param {string} event
   * @param {Function} [fn]
   */
  off(event, fn) {
    if (!fn) {
      this._listeners.delete(event);
      return;
    }
    const set = this._listeners.get(event);
    if (!set) return;
    set.delete(fn);
    if (set.size === 0) this._listeners.delete(event);
  }

  /**
   * Call every listener of `event` with `args`. Returns whether any listened.
   * @param {string} event
   * @param {...unknown} args
   * @returns {boolean}
   */
  emit(event, ...args) {
    const set = this._listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        // A listener bug must not break the socket handler: hand it to
        // 'listenerError' listeners, else print it.
        if (event === 'listenerError' || !this.emit('listenerError', err, event)) reportListenerError(err, event);
      }
    }
    return true;
  }
}

/**
 * Print an error thrown by a listener nobody else handled (the browser's
 * reportError when there is one, so it reaches window.onerror too).
 * @param {unknown} err
 * @param {string} event
 */
export function reportListenerError(err, event) {
  if (typeof globalThis.reportError === 'function') globalThis.reportError(err);
  else console.error(`taskhub: a '${event}' listener threw:`, err);
}

/**
 * Exponential backoff with full jitter: a uniform delay in [0, cap) where
 * cap = min(maxMs, initialMs * factor^attempt).
 * @param {number} attempt 0 for the first retry
 * @param {{initialMs?: number, maxMs?: number, factor?: number}} [opts]
 * @param {() => number} [random] returns a number in [0, 1)
 * @returns {number} milliseconds
 */
export function computeBackoff(attempt, opts = {}, random = Math.random) {
  const initialMs = opts.initialMs ?? 500;
  const maxMs = opts.maxMs ?? 30_000;
  const factor = opts.factor ?? 2;
  const cap = Math.min(maxMs, initialMs * Math.pow(factor, Math.max(0, attempt)));
  return Math.floor(random() * cap);
}

/**
 * Turn `authSuccess.expiresAt` into Unix milliseconds. The contract does not fix
 * its form, so this accepts RFC 3339 strings, Unix seconds and Unix milliseconds.
 * @param {unknown} value
 * @returns {number|null}
 */
export function parseExpiresAt(value) {
  if (value === null || value === undefined || value === '') return null;
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value > 1e12 ? value : value * 1000;
  }
  if (typeof value === 'string') {
    if (/^\d+(\.\d+)?$/.test(value)) return parseExpiresAt(Number(value));
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? null : ms;
  }
  return null;
}

/**
 * Turn what a user passed as the server address into the WebSocket URL:
 * `http(s)://host` -> `ws(s)://host/ws`; a `ws(s)://` URL is kept as given.
 * Without an argument in a browser, the page's own origin is used.
 * @param {string} [url]
 * @returns {string}
 */
export function toWebSocketUrl(url) {
  if (!url) {
    const loc = globalThis.location;
    if (!loc || !loc.host) throw new TypeError('a server url is required outside a browser');
    return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/ws`;
  }
  const u = new URL(url, globalThis.location?.href);
  if (u.protocol === 'http:' || u.protocol === 'https:') {
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    if (u.pathname === '/' || u.pathname === '') u.pathname = '/ws';
  }
  return u.toString();
}

/**
 * Make a function that returns request ids unique within this page/process.
 * @returns {() => string}
 */
export function makeRequestIdFactory() {
  const prefix = Math.random().toString(36).slice(2, 8);
  let n = 0;
  return () => `${prefix}-${++n}`;
}

/**
 * Decode a WebSocket message's data (string in browsers and `ws`; Buffer or
 * ArrayBuffer in some environments) to a string.
 * @param {unknown} data
 * @returns {string}
 */
export function dataToString(data) {
  if (typeof data === 'string') return data;
  if (data instanceof ArrayBuffer) return new TextDecoder().decode(new Uint8Array(data));
  if (ArrayBuffer.isView(data)) {
    return new TextDecoder().decode(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return String(data);
}

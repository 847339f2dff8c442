// Request/response correlation by requestId (PROTOCOL §3: "the reply to it echoes
// the same requestId"). Each request is a promise with a timeout; an `error` or
// `authError` reply rejects it with the server's code.

import { TaskhubError, makeRequestIdFactory } from './util.js';

/** Reply types that answer each client request type (used when a reply lacks requestId). */
const REPLY_TYPES = {
  auth: ['authSuccess', 'authError'],
  subscribe_task: ['subscribed'],
  subscribeTask: ['subscribed'],
  unsubscribe_task: ['unsubscribed'],
  unsubscribeTask: ['unsubscribed'],
  subscribe_user: ['subscribed'],
  subscribeUser: ['subscribed'],
  ping: ['pong'],
};

/**
 * @typedef {object} Pending
 * @property {string} type
 * @property {any} payload
 * @property {(v: any) => void} resolve
 * @property {(e: any) => void} reject
 * @property {any} timer
 */

export class PendingRequests {
  constructor() {
    /** @type {Map<string, Pending>} in send order, which the no-requestId fallback relies on */
    this._pending = new Map();
    this._nextId = makeRequestIdFactory();
  }

  /** @returns {number} requests waiting for a reply */
  get size() { return this._pending.size; }

  /**
   * Register a request, send it with `send(frame)`, and wait for its reply.
   * @param {string} type
   * @param {object} payload
   * @param {number} timeoutMs
   * @param {(frame: object) => void} send may throw when the socket is gone
   * @returns {Promise<any>} the reply's payload
   */
  start(type, payload, timeoutMs, send) {
    const requestId = this._nextId();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._pending.delete(requestId);
        reject(new TaskhubError(`${type}: no reply within ${timeoutMs} ms`, { code: 'timeout' }));
      }, timeoutMs);
      this._pending.set(requestId, { type, payload, resolve, reject, timer });
      try {
        send({ type, timestamp: Date.now(), payload, requestId });
      } catch (err) {
        clearTimeout(timer);
        this._pending.delete(requestId);
        reject(new TaskhubError(`send failed: ${err?.message ?? err}`, { code: 'disconnected' }));
      }
    });
  }

  /**
   * Settle the request this frame answers, if any.
   * @param {{type: string, payload?: any, requestId?: string}} frame
   * @returns {boolean} whether a request was settled
   */
  settle(frame) {
    let id = frame.requestId;
    if (id === undefined || id === null) {
      if (frame.type === 'error') return false; // an error without requestId answers nothing
      id = this._matchWithoutRequestId(frame); // tolerate a server that forgot to echo
    }
    const pending = id === undefined ? undefined : this._pending.get(id);
    if (!pending) return false;
    this._pending.delete(id);
    clearTimeout(pending.timer);
    const p = frame.payload ?? {};
    if (frame.type === 'error' || frame.type === 'authError') {
      pending.reject(new TaskhubError(p.message ?? frame.type, { code: p.code ?? frame.type, frame }));
    } else {
      pending.resolve(p);
    }
    return true;
  }

  /**
   * Reject every waiting request (the socket is gone).
   * @param {string} code
   * @param {string} message
   */
  failAll(code, message) {
    const all = [...this._pending.values()];
    this._pending.clear();
    for (const p of all) {
      clearTimeout(p.timer);
      p.reject(new TaskhubError(message, { code }));
    }
  }

  _matchWithoutRequestId(frame) {
    const p = frame.payload ?? {};
    for (const [id, req] of this._pending) {
      if (!(REPLY_TYPES[req.type] ?? []).includes(frame.type)) continue;
      const userScope = req.type === 'subscribe_user' || req.type === 'subscribeUser';
      if (frame.type === 'subscribed' && userScope !== (p.scope === 'user')) continue;
      if (!userScope && req.payload?.videoId !== undefined && req.payload.videoId !== p.videoId) continue;
      return id;
    }
    return undefined;
  }
}

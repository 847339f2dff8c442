// Who this client follows, and the last seq it saw of each task. Owns the rules
// that make delivery gap-free and duplicate-free across reconnects:
// - resubscribe with sinceSeq = the last seq seen (PROTOCOL §3 "Delivery guarantees");
// - drop any task frame whose seq is <= the last seen for that task.
// The client does the sending; this module only keeps the books.

/**
 * @typedef {{resolve: (v: any) => void, reject: (e: any) => void}} Waiter
 * @typedef {object} TaskSub
 * @property {string} videoId
 * @property {Set<Function>} handlers
 * @property {number} [sinceSeq] asked for by the caller of subscribeTask
 * @property {number} [sentSince] sinceSeq of the request in flight (undefined: none sent)
 * @property {boolean} inflight a subscribe request is waiting for its reply
 * @property {boolean} active the server confirmed the subscription on this socket
 * @property {Waiter[]} waiters callers of subscribeTask waiting for `subscribed`
 * @property {any} [last] payload of the last `subscribed`
 * @typedef {{handlers: Set<Function>, inflight: boolean, active: boolean, waiters: Waiter[], last?: any}} UserSub
 */

export class Subscriptions {
  /** @param {(err: unknown, type: string) => void} onHandlerError called when a handler throws */
  constructor(onHandlerError) {
    /** @type {Map<string, TaskSub>} */
    this.tasks = new Map();
    /** @type {UserSub | null} */
    this.user = null;
    /** @type {Map<string, number>} last seq seen per videoId, from any subscription */
    this.seqs = new Map();
    this._onHandlerError = onHandlerError;
  }

  /**
   * Register interest in a task. The promise settles with the next `subscribed`
   * (or at once when already active); it never causes an unhandled rejection.
   * @param {string} videoId
   * @param {Function} [handler]
   * @param {number} [sinceSeq]
   * @returns {{sub: TaskSub, promise: Promise<any>}}
   */
  addTask(videoId, handler, sinceSeq) {
    let sub = this.tasks.get(videoId);
    if (!sub) {
      sub = { videoId, handlers: new Set(), inflight: false, active: false, waiters: [] };
      this.tasks.set(videoId, sub);
    }
    if (handler) sub.handlers.add(handler);
    if (sinceSeq !== undefined && sinceSeq !== null) sub.sinceSeq = sinceSeq;
    return { sub, promise: waitFor(sub) };
  }

  /**
   * Remove a handler, or the whole subscription when none is left (or no handler given).
   * @param {string} videoId
   * @param {Function} [handler]
   * @returns {TaskSub | null} the removed subscription, if it was removed
   */
  removeTask(videoId, handler) {
    const sub = this.tasks.get(videoId);
    if (!sub) return null;
    if (handler) sub.handlers.delete(handler);
    if (handler && sub.handlers.size > 0) return null;
    this.tasks.delete(videoId);
    return sub;
  }

  /** @param {Function} [handler] @returns {{sub: UserSub, promise: Promise<any>}} */
  addUser(handler) {
    if (!this.user) this.user = { handlers: new Set(), inflight: false, active: false, waiters: [] };
    if (handler) this.user.handlers.add(handler);
    return { sub: this.user, promise: waitFor(this.user) };
  }

  /** @param {Function} [handler] */
  removeUser(handler) {
    if (!this.user) return undefined;
    if (handler) this.user.handlers.delete(handler);
    if (handler && this.user.handlers.size > 0) return undefined;
    const gone = this.user;
    this.user = null;
    return gone;
  }

  /**
   * The `subscribe_task` payload for a (re)subscription; marks it in flight.
   * sinceSeq is the last seq seen, else what the caller asked for, else omitted.
   * @param {TaskSub} sub
   * @returns {{videoId: string, sinceSeq?: number}}
   */
  subscribePayload(sub) {
    const since = this.seqs.get(sub.videoId) ?? sub.sinceSeq;
    const payload = { videoId: sub.videoId };
    if (since !== undefined && since !== null) payload.sinceSeq = since;
    sub.inflight = true;
    sub.sentSince = payload.sinceSeq;
    return payload;
  }

  /** @returns {TaskSub[]} subscriptions to send on a fresh socket */
  toResubscribe() {
    return [...this.tasks.values()].filter((s) => !s.inflight && !s.active);
  }

  /**
   * Handle a `subscribed` frame (called synchronously, before any later frame).
   * Without sinceSeq the snapshot is the state so far, so later frames are newer
   * than `task.seq`. With sinceSeq, replayed frames may follow this reply, so the
   * mark is left where it was.
   * @param {{payload?: any}} frame
   */
  onSubscribed(frame) {
    const p = frame.payload ?? {};
    if (p.scope === 'user') {
      if (this.user) settle(this.user, p);
      return;
    }
    const sub = this.tasks.get(p.videoId);
    if (!sub) return;
    const snapSeq = p.task?.seq;
    if (sub.sentSince === undefined && typeof snapSeq === 'number') {
      this.seqs.set(p.videoId, Math.max(this.seqs.get(p.videoId) ?? 0, snapSeq));
    }
    this._call(sub.handlers, frame);
    settle(sub, p);
  }

  /**
   * Deliver a task frame to its handlers unless it is a duplicate or older than
   * what was already seen. Frames without videoId and numeric seq pass through.
   * @param {{type: string, payload?: any}} frame
   * @returns {boolean} false when the frame was dropped
   */
  accept(frame) {
    const p = frame.payload ?? {};
    if (typeof p.videoId !== 'string' || typeof p.seq !== 'number') return true;
    const last = this.seqs.get(p.videoId);
    if (last !== undefined && p.seq <= last) return false;
    this.seqs.set(p.videoId, p.seq);
    const sub = this.tasks.get(p.videoId);
    if (sub) this._call(sub.handlers, frame);
    if (this.user) this._call(this.user.handlers, frame);
    return true;
  }

  /** The socket is gone: nothing is active or in flight on the server any more. */
  markInactive() {
    for (const sub of this.tasks.values()) { sub.active = false; sub.inflight = false; }
    if (this.user) { this.user.active = false; this.user.inflight = false; }
  }

  _call(handlers, frame) {
    for (const h of [...handlers]) {
      try { h(frame); } catch (err) { this._onHandlerError(err, frame.type); }
    }
  }
}

/** @param {TaskSub | UserSub} sub @returns {Promise<any>} */
function waitFor(sub) {
  if (sub.active) return Promise.resolve(sub.last);
  const p = new Promise((resolve, reject) => sub.waiters.push({ resolve, reject }));
  p.catch(() => {}); // fire-and-forget callers must not crash Node; errors are also emitted
  return p;
}

/** @param {TaskSub | UserSub} sub @param {any} payload */
function settle(sub, payload) {
  sub.active = true;
  sub.inflight = false;
  sub.last = payload;
  for (const w of sub.waiters.splice(0)) w.resolve(payload);
}

/**
 * Reject everyone waiting on a subscription.
 * @param {TaskSub | UserSub} sub
 * @param {unknown} err
 */
export function rejectWaiters(sub, err) {
  for (const w of sub.waiters.splice(0)) w.reject(err);
}

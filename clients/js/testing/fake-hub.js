// An in-memory stand-in for the taskhub WebSocket endpoint, for unit tests.
// `hub.WebSocket` is a constructor to inject into TaskhubClient. The hub keeps a
// per-task event log with seq numbers and answers auth/subscribe/ping like the
// contract says; tests can override any frame handling or push raw frames.
// (Kept outside test/ so `node --test test/` does not run it as a test file.)

const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 3;

/**
 * @typedef {object} HubOptions
 * @property {(token: string) => boolean} [acceptToken] default: every non-empty token
 * @property {(token: string) => unknown} [expiresAt] authSuccess.expiresAt for a token (default: one hour from now, RFC 3339)
 * @property {(sock: FakeSocket, frame: any) => boolean | void} [onFrame] return true to take over a frame
 * @property {(sock: FakeSocket) => boolean | void} [onConnect] return true to take over the upgrade (e.g. refuse it)
 * @property {boolean} [replayFirst] send replayed frames before `subscribed` instead of after
 */

export class FakeHub {
  /** @param {HubOptions} [opts] */
  constructor(opts = {}) {
    this.opts = opts;
    /** @type {FakeSocket[]} every socket ever made, in order */
    this.sockets = [];
    /** @type {number[]} Date.now() of every connection attempt */
    this.connectTimes = [];
    /** @type {Map<string, {seq: number, status: string, progress: number, log: any[]}>} */
    this.tasks = new Map();
    const hub = this;
    this.WebSocket = class extends FakeSocket {
      constructor(url) {
        super(url, hub);
      }
    };
  }

  /** @returns {FakeSocket | undefined} the newest socket */
  get last() { return this.sockets[this.sockets.length - 1]; }

  /** @returns {FakeSocket[]} sockets that are open now */
  get open() { return this.sockets.filter((s) => s.readyState === OPEN); }

  /** Create a task with seq 1 (taskCreated), like the server does. @param {string} videoId */
  createTask(videoId) {
    this.tasks.set(videoId, { seq: 0, status: 'queued', progress: 0, log: [] });
    return this.event(videoId, 'taskCreated', { prompt: 'p', model: 'm' });
  }

  /**
   * Commit the next event of a task and send it to every socket subscribed to it.
   * @param {string} videoId
   * @param {string} type taskProgress | taskCompleted | ...
   * @param {object} [extra] payload fields (status, progress, ...)
   * @returns {object} the frame
   */
  event(videoId, type, extra = {}) {
    const t = this.tasks.get(videoId);
    t.seq += 1;
    if (extra.status) t.status = extra.status;
    if (typeof extra.progress === 'number') t.progress = extra.progress;
    const frame = {
      type,
      timestamp: Date.now(),
      payload: { videoId, externalVideoId: `ext_${videoId}`, status: t.status, progress: t.progress, seq: t.seq, ...extra },
    };
    t.log.push(frame);
    for (const s of this.open) if (s.subscriptions.has(videoId)) s.push(frame);
    return frame;
  }

  /** @param {string} videoId @returns {object} the task snapshot (REST shape, abridged) */
  snapshot(videoId) {
    const t = this.tasks.get(videoId);
    return { videoId, externalVideoId: `ext_${videoId}`, status: t.status, progress: t.progress, seq: t.seq };
  }

  /** Default handling of a client frame, per PROTOCOL §3. */
  handle(sock, frame) {
    if (this.opts.onFrame?.(sock, frame)) return;
    const { type, payload = {}, requestId } = frame;
    switch (type) {
      case 'auth': {
        const ok = this.opts.acceptToken ? this.opts.acceptToken(payload.token) : Boolean(payload.token);
        if (!ok) {
          sock.reply('authError', { code: 'unauthorized', message: 'bad token' }, requestId);
          sock.serverClose(4001, 'auth failed');
          return;
        }
        const expiresAt = this.opts.expiresAt?.(payload.token) ?? new Date(Date.now() + 3_600_000).toISOString();
        sock.authed = true;
        sock.reply('authSuccess', { userId: 'u1', username: 'tester', sessionId: `s${sock.id}`, expiresAt }, requestId);
        return;
      }
      case 'subscribe_task': {
        if (!this.tasks.has(payload.videoId)) {
          sock.reply('error', { code: 'notFound', message: 'no such task' }, requestId);
          return;
        }
        sock.subscriptions.add(payload.videoId);
        const t = this.tasks.get(payload.videoId);
        const missed = typeof payload.sinceSeq === 'number' ? t.log.filter((f) => f.payload.seq > payload.sinceSeq) : [];
        const reply = () => sock.reply('subscribed', { videoId: payload.videoId, task: this.snapshot(payload.videoId), replayed: missed.length }, requestId);
        // The contract does not say whether replayed frames precede `subscribed`; test both.
        if (!this.opts.replayFirst) reply();
        for (const f of missed) sock.push(f);
        if (this.opts.replayFirst) reply();
        return;
      }
      case 'unsubscribe_task':
        sock.subscriptions.delete(payload.videoId);
        sock.reply('unsubscribed', { videoId: payload.videoId }, requestId);
        return;
      case 'subscribe_user':
        sock.reply('subscribed', { scope: 'user' }, requestId);
        return;
      case 'unsubscribe_user':
        sock.reply('unsubscribed', { scope: 'user' }, requestId);
        return;
      case 'ping':
        sock.reply('pong', { serverTime: Date.now() }, requestId);
        return;
      default:
        sock.reply('error', { code: 'badRequest', message: `unknown type ${type}` }, requestId);
    }
  }
}

let nextId = 0;

/** A WebSocket look-alike: the client side of the browser API, plus server-side controls. */
export class FakeSocket {
  static CONNECTING = CONNECTING;
  static OPEN = OPEN;
  static CLOSED = CLOSED;

  /** @param {string} url @param {FakeHub} hub */
  constructor(url, hub) {
    this.id = ++nextId;
    this.url = url;
    this.hub = hub;
    this.readyState = CONNECTING;
    /** @type {any[]} frames the client sent, parsed */
    this.sent = [];
    /** @type {Set<string>} videoIds this socket subscribed to */
    this.subscriptions = new Set();
    this.authed = false;
    this._listeners = new Map();
    hub.sockets.push(this);
    hub.connectTimes.push(Date.now());
    // Like a real socket, connection happens after the constructor returns.
    setImmediate(() => {
      if (this.readyState !== CONNECTING) return;
      if (hub.opts.onConnect?.(this)) return;
      this.accept();
    });
  }

  addEventListener(type, fn) {
    if (!this._listeners.has(type)) this._listeners.set(type, []);
    this._listeners.get(type).push(fn);
  }

  removeEventListener(type, fn) {
    const l = this._listeners.get(type);
    if (l) this._listeners.set(type, l.filter((f) => f !== fn));
  }

  _dispatch(type, ev = {}) {
    for (const fn of this._listeners.get(type) ?? []) fn({ type, ...ev });
  }

  /** Client API: send a text frame. */
  send(data) {
    if (this.readyState !== OPEN) throw new Error('WebSocket is not open');
    const frame = JSON.parse(data);
    this.sent.push(frame);
    setImmediate(() => { if (this.readyState === OPEN) this.hub.handle(this, frame); });
  }

  /** Client API: close from the client side. */
  close(code = 1000, reason = '') {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    this.closedBy = 'client';
    setImmediate(() => this._dispatch('close', { code, reason, wasClean: true }));
  }

  // ---- server-side controls ----

  /** Complete the upgrade and send `connected`. */
  accept() {
    this.readyState = OPEN;
    this._dispatch('open');
    this.reply('connected', { connectionId: `c${this.id}`, serverVersion: 'fake', capabilities: [], heartbeatIntervalMs: 30000, authTimeoutMs: 10000 });
  }

  /** Fail the connection attempt like a refused upgrade (close 1006, never opened). */
  refuse() {
    this.readyState = CLOSED;
    this._dispatch('error');
    this._dispatch('close', { code: 1006, reason: '', wasClean: false });
  }

  /** Send a frame to the client (asynchronously, in order). */
  push(frame) {
    const data = JSON.stringify(frame);
    setImmediate(() => { if (this.readyState === OPEN) this._dispatch('message', { data }); });
  }

  /** Send an envelope built from its parts. */
  reply(type, payload, requestId) {
    const frame = { type, timestamp: Date.now(), payload };
    if (requestId !== undefined) frame.requestId = requestId;
    this.push(frame);
  }

  /** Close from the server side, after frames already queued. */
  serverClose(code = 1000, reason = '') {
    setImmediate(() => {
      if (this.readyState === CLOSED) return;
      this.readyState = CLOSED;
      this.closedBy = 'server';
      this._dispatch('close', { code, reason, wasClean: code !== 1006 });
    });
  }

  /** @param {string} type @returns {any[]} frames of this type the client sent */
  sentOfType(type) { return this.sent.filter((f) => f.type === type); }
}

/**
 * Resolve when `predicate()` becomes true, polling every few ms.
 * @param {() => boolean} predicate
 * @param {number} [timeoutMs]
 * @param {string} [what] for the timeout message
 */
export async function waitUntil(predicate, timeoutMs = 2000, what = 'condition') {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

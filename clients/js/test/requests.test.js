// Request/response correlation by requestId, driven through a fake WebSocket.
import test, { afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { TaskhubClient, TaskhubError } from '../taskhub.js';
import { FakeHub, waitUntil } from '../testing/fake-hub.js';

// Close every client after each test, so a failed assertion leaves no timers running.
const T = { timeout: 10_000 }; // a broken client must fail a test, not hang the run
const clients = [];
afterEach(() => { for (const c of clients.splice(0)) c.close(); });

function makeClient(hub, opts = {}) {
  const client = new TaskhubClient({
    url: 'ws://hub.test/ws',
    WebSocket: hub.WebSocket,
    token: 'good-token',
    reconnect: { initialMs: 10, maxMs: 50 },
    requestTimeoutMs: 1000,
    ...opts,
  });
  clients.push(client);
  return client;
}

test('connect sends auth with the token after `connected` and becomes ready', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub);
  const states = [];
  client.on('state', (s) => states.push(s));
  await client.connect();
  assert.equal(client.state, 'ready');
  assert.deepEqual(states, ['connecting', 'authenticating', 'ready']);
  const auth = hub.last.sentOfType('auth');
  assert.equal(auth.length, 1);
  assert.equal(auth[0].payload.token, 'good-token');
  assert.equal(typeof auth[0].requestId, 'string');
  assert.equal(typeof auth[0].timestamp, 'number');
  assert.equal(client.session.userId, 'u1');
  assert.equal(client.connection.connectionId, `c${hub.last.id}`);
  client.close();
});

test('replies are matched to requests by requestId, even out of order', T, async () => {
  const held = [];
  const hub = new FakeHub({
    onFrame(sock, frame) {
      if (frame.type !== 'ping') return false;
      held.push({ sock, frame });
      return true; // answer later, in reverse order
    },
  });
  const client = makeClient(hub);
  await client.connect();
  const promises = [client.ping(), client.ping(), client.ping()];
  await waitUntil(() => held.length >= 3, 1000, 'three pings');
  const ids = held.map((h) => h.frame.requestId);
  assert.equal(new Set(ids).size, 3, 'each request gets its own requestId');
  for (const { sock, frame } of [...held].reverse()) {
    sock.reply('pong', { serverTime: 1000 + held.indexOf(held.find((h) => h.frame === frame)) }, frame.requestId);
  }
  const results = await Promise.all(promises);
  assert.deepEqual(results.map((r) => r.serverTime), [1000, 1001, 1002]);
  client.close();
});

test('an error frame with a requestId rejects only the matching request', T, async () => {
  const held = [];
  const hub = new FakeHub({
    onFrame(sock, frame) {
      if (frame.type !== 'ping') return false;
      held.push({ sock, frame });
      return true;
    },
  });
  const client = makeClient(hub);
  const emitted = [];
  client.on('error', (e) => emitted.push(e));
  await client.connect();
  const a = client.ping();
  const b = client.ping();
  const bRejected = assert.rejects(b, (err) => err instanceof TaskhubError && err.code === 'forbidden' && err.message === 'nope');
  await waitUntil(() => held.length >= 2);
  // An error without requestId must not reject anything.
  held[0].sock.reply('error', { code: 'rateLimited', message: 'slow down' });
  held[0].sock.reply('error', { code: 'forbidden', message: 'nope' }, held[1].frame.requestId);
  held[0].sock.reply('pong', { serverTime: 7 }, held[0].frame.requestId);
  assert.deepEqual(await a, { serverTime: 7 });
  await bRejected;
  assert.deepEqual(emitted.map((e) => e.code), ['rateLimited', 'forbidden'], 'error frames are also emitted');
  client.close();
});

test('a request without a reply times out with code `timeout`', T, async () => {
  const hub = new FakeHub({ onFrame: (_s, f) => f.type === 'ping' });
  const client = makeClient(hub);
  await client.connect();
  const t0 = Date.now();
  await assert.rejects(client.request('ping', {}, { timeoutMs: 40 }), (err) => err.code === 'timeout');
  assert.ok(Date.now() - t0 >= 35, 'did not time out early');
  client.close();
});

test('pending requests are rejected with `disconnected` when the socket drops', T, async () => {
  const hub = new FakeHub({ onFrame: (_s, f) => f.type === 'ping' });
  const client = makeClient(hub);
  await client.connect();
  const p = client.ping();
  hub.last.serverClose(1006);
  await assert.rejects(p, (err) => err.code === 'disconnected');
  client.close();
});

test('request() on a closed client rejects with `notConnected`', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub);
  await assert.rejects(client.ping(), (err) => err.code === 'notConnected');
});

test('without a token source the client is ready after `connected` and sends no auth', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub, { token: undefined });
  await client.connect();
  assert.equal(client.state, 'ready');
  assert.equal(hub.last.sentOfType('auth').length, 0);
  client.close();
});

test('an async token getter is awaited on every connection', T, async () => {
  const hub = new FakeHub();
  let calls = 0;
  const client = makeClient(hub, { token: async () => `tok-${++calls}` });
  await client.connect();
  assert.equal(hub.last.sentOfType('auth')[0].payload.token, 'tok-1');
  hub.last.serverClose(1006);
  await waitUntil(() => hub.sockets.length === 2 && client.state === 'ready', 1000, 'reconnect');
  assert.equal(hub.last.sentOfType('auth')[0].payload.token, 'tok-2');
  client.close();
});

test('close() stops reconnecting and emits close once', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub);
  await client.connect();
  const closes = [];
  client.on('close', (e) => closes.push(e));
  client.close();
  assert.equal(client.state, 'closed');
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(hub.sockets.length, 1, 'no reconnect after close()');
  assert.equal(closes.length, 1);
  assert.equal(closes[0].willReconnect, false);
});

test('a token getter that throws makes the client retry on a new socket', T, async () => {
  const hub = new FakeHub();
  let calls = 0;
  const client = makeClient(hub, { token: async () => { if (++calls === 1) throw new Error('offline'); return 'tok'; } });
  const errors = [];
  client.on('error', (e) => errors.push(e.code));
  await client.connect();
  assert.equal(hub.sockets.length, 2);
  assert.equal(hub.sockets[0].sentOfType('auth').length, 0);
  assert.equal(hub.last.sentOfType('auth')[0].payload.token, 'tok');
  assert.deepEqual(errors, ['tokenUnavailable']);
});

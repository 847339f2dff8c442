// Authentication: close 4001 -> one token refresh and retry; refresh before expiry
// on the open socket; authError rejects the connect.
import test, { afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { TaskhubClient, parseExpiresAt } from '../taskhub.js';
import { FakeHub, waitUntil } from '../testing/fake-hub.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Close every client after each test, so a failed assertion leaves no timers running.
const T = { timeout: 10_000 }; // a broken client must fail a test, not hang the run
const clients = [];
afterEach(() => { for (const c of clients.splice(0)) c.close(); });

function makeClient(hub, opts = {}) {
  const client = new TaskhubClient({
    url: 'ws://hub.test/ws',
    WebSocket: hub.WebSocket,
    reconnect: { initialMs: 10, maxMs: 40 },
    requestTimeoutMs: 1000,
    ...opts,
  });
  clients.push(client);
  return client;
}

test('close 4001 calls the refresh hook once and reconnects with the new token', T, async () => {
  const valid = new Set(['fresh']);
  const hub = new FakeHub({ acceptToken: (t) => valid.has(t) });
  hub.createTask('video_1');
  let refreshes = 0;
  const client = makeClient(hub, { token: 'stale', onTokenRefresh: async () => { refreshes++; return 'fresh'; } });
  const failed = [];
  client.on('authFailed', (e) => failed.push(e));
  client.subscribeTask('video_1', () => {});
  await client.connect();
  assert.equal(refreshes, 1);
  assert.equal(failed.length, 0);
  assert.equal(hub.sockets.length, 2);
  assert.equal(hub.sockets[0].sentOfType('auth')[0].payload.token, 'stale');
  assert.equal(hub.sockets[1].sentOfType('auth')[0].payload.token, 'fresh');
  assert.equal(hub.sockets[1].sentOfType('subscribe_task').length, 1, 'subscriptions follow the re-auth');

  // The refreshed token is used for later reconnects too (not the stale one).
  hub.last.serverClose(1006);
  await waitUntil(() => hub.sockets.length === 3 && client.state === 'ready', 1000, 'reconnect');
  assert.equal(hub.last.sentOfType('auth')[0].payload.token, 'fresh');
  assert.equal(refreshes, 1);

  // A later expiry (4001 on an authenticated socket) may refresh once more.
  valid.add('fresher');
  client._onTokenRefresh = async () => { refreshes++; return 'fresher'; };
  hub.last.serverClose(4001, 'token expired');
  await waitUntil(() => hub.sockets.length === 4 && client.state === 'ready', 1000, 're-auth after expiry');
  assert.equal(refreshes, 2);
  assert.equal(hub.last.sentOfType('auth')[0].payload.token, 'fresher');
  client.close();
});

test('when the refreshed token is rejected too, the client reports an auth error and stops', T, async () => {
  const hub = new FakeHub({ acceptToken: () => false });
  let refreshes = 0;
  const client = makeClient(hub, { token: 'stale', onTokenRefresh: () => { refreshes++; return `new-${refreshes}`; } });
  const failed = [];
  client.on('authFailed', (e) => failed.push(e));
  await assert.rejects(client.connect(), (e) => e.code === 'unauthorized' && e.message === 'bad token');
  assert.equal(refreshes, 1, 'the hook is called once, not in a loop');
  assert.equal(failed.length, 1);
  assert.equal(failed[0].code, 'unauthorized');
  assert.equal(client.state, 'closed');
  await sleep(60);
  assert.equal(hub.sockets.length, 2, 'no more attempts after giving up');
});

test('4001 without a refresh hook is an auth error at once', T, async () => {
  const hub = new FakeHub({ acceptToken: () => false });
  const client = makeClient(hub, { token: 'static' });
  const failed = [];
  client.on('authFailed', (e) => failed.push(e));
  await assert.rejects(client.connect(), (e) => e.code === 'unauthorized');
  assert.equal(failed.length, 1);
  await sleep(40);
  assert.equal(hub.sockets.length, 1);
});

test('a refresh hook that throws ends in an auth error', T, async () => {
  const hub = new FakeHub({ acceptToken: () => false });
  const client = makeClient(hub, { token: 'x', onTokenRefresh: async () => { throw new Error('refresh endpoint down'); } });
  const failed = [];
  client.on('authFailed', (e) => failed.push(e));
  await assert.rejects(client.connect());
  assert.equal(failed.length, 1);
  assert.equal(failed[0].cause.message, 'refresh endpoint down');
  assert.equal(client.state, 'closed');
});

test('the token is refreshed on the open socket before authSuccess.expiresAt', T, async () => {
  let issued = 0;
  const hub = new FakeHub({
    // Each token lives 400 ms; the first as an RFC 3339 string, later ones as Unix seconds (fractional).
    expiresAt: () => (issued++ === 0 ? new Date(Date.now() + 400).toISOString() : (Date.now() + 400) / 1000),
  });
  const refreshTimes = [];
  const t0 = Date.now();
  const client = makeClient(hub, {
    token: 'first',
    refreshBeforeMs: 250,
    onTokenRefresh: async () => { refreshTimes.push(Date.now() - t0); return `next-${refreshTimes.length}`; },
  });
  await client.connect();
  const sock = hub.last;
  await waitUntil(() => sock.sentOfType('auth').length >= 3, 2000, 'two refreshes');
  assert.equal(hub.sockets.length, 1, 'refresh happens without reconnecting');
  const tokens = sock.sentOfType('auth').slice(0, 3).map((f) => f.payload.token);
  assert.deepEqual(tokens, ['first', 'next-1', 'next-2']);
  // lifetime 400 ms, refreshBeforeMs 250 -> refresh at max(400-250, 400/2) = 200 ms after each authSuccess
  assert.ok(refreshTimes[0] >= 190 && refreshTimes[0] < 390, `first refresh at ${refreshTimes[0]}ms`);
  assert.ok(refreshTimes[1] - refreshTimes[0] >= 190, `second refresh ${refreshTimes[1] - refreshTimes[0]}ms after the first`);
  assert.equal(client.state, 'ready');
  client.close();
});

test('no refresh is scheduled for a static token without a hook', T, async () => {
  const hub = new FakeHub({ expiresAt: () => new Date(Date.now() + 50).toISOString() });
  const client = makeClient(hub, { token: 'static', refreshBeforeMs: 40 });
  await client.connect();
  await sleep(80);
  assert.equal(hub.last.sentOfType('auth').length, 1);
  client.close();
});

test('parseExpiresAt accepts RFC 3339, Unix seconds and Unix milliseconds', () => {
  assert.equal(parseExpiresAt('2025-11-13T10:00:00Z'), Date.UTC(2025, 10, 13, 10));
  assert.equal(parseExpiresAt(1763027892), 1763027892000);
  assert.equal(parseExpiresAt(1763027892000), 1763027892000);
  assert.equal(parseExpiresAt('1763027892'), 1763027892000);
  assert.equal(parseExpiresAt(null), null);
  assert.equal(parseExpiresAt('not a date'), null);
});

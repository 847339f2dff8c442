// Reconnects: resubscribe with sinceSeq, duplicate/old-seq suppression, backoff
// with full jitter and a cap, and the server's `reconnect` frame.
import test, { afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { TaskhubClient, computeBackoff } from '../taskhub.js';
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
    token: 'good-token',
    reconnect: { initialMs: 10, maxMs: 40 },
    requestTimeoutMs: 1000,
    ...opts,
  });
  clients.push(client);
  return client;
}

for (const replayFirst of [false, true]) {
  test(`after a drop the task is resubscribed with sinceSeq = last seq seen and nothing is lost or repeated (replay ${replayFirst ? 'before' : 'after'} subscribed)`, T, async () => {
    const hub = new FakeHub({ replayFirst });
    const id = 'video_a';
    hub.createTask(id); // seq 1
    const client = makeClient(hub);
    const seen = [];
    await client.connect();
    const sub = await client.subscribeTask(id, (f) => { if (f.type !== 'subscribed') seen.push(f.payload.seq); });
    assert.equal(sub.task.seq, 1);
    assert.equal(hub.last.sentOfType('subscribe_task')[0].payload.sinceSeq, undefined, 'a fresh subscription sends no sinceSeq');

    hub.event(id, 'taskProgress', { status: 'processing', progress: 10 }); // 2
    hub.event(id, 'taskProgress', { progress: 20 }); // 3
    await waitUntil(() => seen.length >= 2, 1000, 'live frames');
    assert.equal(client.lastSeq(id), 3);

    client.once('close', () => {
      // While the client is away, the task moves on: these are only in the log.
      hub.event(id, 'taskProgress', { progress: 50 }); // 4
      hub.event(id, 'taskProgress', { progress: 80 }); // 5
    });
    hub.last.serverClose(4002, 'too slow'); // 4002: reconnect and resubscribe

    await waitUntil(() => seen.length >= 4, 1000, 'replayed frames');
    assert.equal(hub.sockets.length, 2);
    const resub = hub.last.sentOfType('subscribe_task');
    assert.equal(resub.length, 1);
    assert.equal(resub[0].payload.sinceSeq, 3);

    hub.event(id, 'taskCompleted', { status: 'completed', progress: 100, result: { videoUrl: '/v.mp4' } }); // 6
    await waitUntil(() => seen.length >= 5, 1000, 'terminal frame');
    await sleep(20);
    assert.deepEqual(seen, [2, 3, 4, 5, 6]);
    client.close();
  });
}

test('frames whose seq is at or below the last seen are dropped', T, async () => {
  const hub = new FakeHub();
  const id = 'video_b';
  hub.createTask(id);
  const client = makeClient(hub);
  await client.connect();
  const seen = [];
  const fromEmitter = [];
  const dropped = [];
  client.on('taskProgress', (f) => fromEmitter.push(f.payload.seq));
  client.on('duplicate', (f) => dropped.push(f.payload.seq));
  await client.subscribeTask(id, (f) => { if (f.type === 'taskProgress') seen.push(f.payload.seq); });
  const frame = (seq) => ({ type: 'taskProgress', timestamp: Date.now(), payload: { videoId: id, externalVideoId: null, status: 'processing', progress: seq * 10, seq } });
  for (const seq of [2, 2, 1, 3, 3, 5, 4, 6]) hub.last.push(frame(seq));
  await waitUntil(() => seen.length >= 4 && dropped.length >= 4, 1000, 'frames');
  assert.deepEqual(seen, [2, 3, 5, 6]);
  assert.deepEqual(fromEmitter, [2, 3, 5, 6], 'dropped frames are not emitted by type either');
  assert.deepEqual(dropped, [2, 1, 3, 4]);
  client.close();
});

test('a replay that overlaps what was already seen yields no duplicates', T, async () => {
  // A server that replays from too early (sinceSeq - 2) must not cause repeats.
  const hub = new FakeHub({
    onFrame(_sock, f) {
      if (f.type === 'subscribe_task' && f.payload.sinceSeq !== undefined) f.payload.sinceSeq -= 2;
      return false; // then handle it normally, with the earlier sinceSeq
    },
  });
  const id = 'video_c';
  hub.createTask(id);
  const client = makeClient(hub);
  await client.connect();
  const seen = [];
  await client.subscribeTask(id, (f) => { if (f.type !== 'subscribed') seen.push(f.payload.seq); });
  for (let i = 0; i < 3; i++) hub.event(id, 'taskProgress', { progress: 10 * (i + 1) }); // 2,3,4
  await waitUntil(() => seen.length >= 3);
  hub.last.serverClose(1006);
  await waitUntil(() => hub.sockets.length === 2 && client.state === 'ready', 1000, 'reconnect');
  hub.event(id, 'taskProgress', { progress: 90 }); // 5
  await waitUntil(() => seen.length >= 4, 1000, 'frame 5');
  await sleep(20);
  assert.deepEqual(seen, [2, 3, 4, 5]);
  client.close();
});

test('the same frame through a task and a user subscription reaches each handler once', T, async () => {
  const hub = new FakeHub();
  const id = 'video_d';
  hub.createTask(id);
  const client = makeClient(hub);
  await client.connect();
  const taskSeen = [];
  const userSeen = [];
  await client.subscribeTask(id, (f) => { if (f.type !== 'subscribed') taskSeen.push(f.payload.seq); });
  await client.subscribeUser((f) => userSeen.push(f.payload.seq));
  const f2 = { type: 'taskProgress', timestamp: Date.now(), payload: { videoId: id, externalVideoId: null, status: 'processing', progress: 5, seq: 2 } };
  hub.last.push(f2); // once for the task subscription
  hub.last.push(f2); // once for the user subscription
  await sleep(20);
  assert.deepEqual(taskSeen, [2]);
  assert.deepEqual(userSeen, [2]);
  client.close();
});

test('dropping the last user handler tells the server, and the scope is not resubscribed', T, async () => {
  const seen = [];
  const hub = new FakeHub({ onFrame: (_sock, frame) => { seen.push(frame.type); return false; } });
  const client = makeClient(hub);
  await client.connect();
  const a = () => {};
  const b = () => {};
  await client.subscribeUser(a);
  await client.subscribeUser(b);
  await client.unsubscribeUser(a);
  assert.ok(!seen.includes('unsubscribe_user'), 'a handler is still left');
  await client.unsubscribeUser(b);
  assert.equal(seen.filter((t) => t === 'unsubscribe_user').length, 1);
  hub.last.close(1012);
  for (let i = 0; i < 100 && hub.open.length === 0; i++) await sleep(10);
  await sleep(30);
  assert.equal(hub.sockets.length, 2, 'the client reconnected');
  assert.equal(seen.filter((t) => t === 'subscribe_user').length, 1, 'not resubscribed after the reconnect');
  client.close();
});

test('subscriptions made before connecting are sent once the socket is ready', T, async () => {
  const hub = new FakeHub();
  hub.createTask('video_e');
  const client = makeClient(hub);
  const p = client.subscribeTask('video_e', () => {});
  await client.connect();
  const res = await p;
  assert.equal(res.videoId, 'video_e');
  assert.equal(hub.last.sentOfType('subscribe_task').length, 1);
  client.close();
});

test('a subscription the server refuses is rejected and not resubscribed', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub);
  await client.connect();
  await assert.rejects(client.subscribeTask('video_missing', () => {}), (e) => e.code === 'notFound');
  hub.last.serverClose(1006);
  await waitUntil(() => hub.sockets.length === 2 && client.state === 'ready', 1000, 'reconnect');
  await sleep(10);
  assert.equal(hub.last.sentOfType('subscribe_task').length, 0);
  client.close();
});

test('computeBackoff: exponential caps, full jitter, max cap', () => {
  const opts = { initialMs: 100, maxMs: 1000, factor: 2 };
  const top = () => 0.999999;
  assert.deepEqual([0, 1, 2, 3, 4, 5, 10].map((a) => computeBackoff(a, opts, top)), [99, 199, 399, 799, 999, 999, 999]);
  assert.equal(computeBackoff(3, opts, () => 0), 0, 'full jitter goes down to zero');
  assert.equal(computeBackoff(3, opts, () => 0.5), 400);
  const samples = Array.from({ length: 200 }, () => computeBackoff(6, opts));
  assert.ok(samples.every((d) => d >= 0 && d < 1000), 'always within [0, cap)');
  assert.ok(new Set(samples).size > 20, 'delays are spread, not fixed');
});

test('reconnect delays grow exponentially, are jittered and capped', T, async () => {
  // Every connection attempt is refused; record the delays the client picks.
  const hub = new FakeHub({ onConnect: (sock) => { sock.refuse(); return true; } });
  const rolls = [0.9, 0.5, 0.9, 0.2, 0.9, 0.9, 0.9];
  let i = 0;
  const client = makeClient(hub, { reconnect: { initialMs: 10, maxMs: 60 }, random: () => rolls[i++ % rolls.length] });
  const delays = [];
  client.on('reconnecting', (e) => delays.push(e.delayMs));
  client.connect();
  await waitUntil(() => delays.length >= 7, 3000, 'seven retries');
  client.close();
  delays.length = 7;
  // caps: 10, 20, 40, 60 (capped), 60, 60, 60 — each scaled by its random roll
  assert.deepEqual(delays, [9, 10, 36, 12, 54, 54, 54]);
  // And the client really waited that long between attempts.
  const gaps = hub.connectTimes.slice(1).map((t, k) => t - hub.connectTimes[k]);
  for (let k = 0; k < Math.min(gaps.length, delays.length); k++) {
    assert.ok(gaps[k] >= delays[k] - 2, `attempt ${k + 1} waited ${gaps[k]}ms, expected >= ${delays[k]}ms`);
  }
});

test('reconnect attempts use the injected randomness (no fixed schedule)', T, async () => {
  const hub = new FakeHub({ onConnect: (sock) => { sock.refuse(); return true; } });
  const client = makeClient(hub, { reconnect: { initialMs: 20, maxMs: 20 } });
  const delays = [];
  client.on('reconnecting', (e) => delays.push(e.delayMs));
  client.connect();
  await waitUntil(() => delays.length >= 12, 3000, 'twelve retries');
  client.close();
  assert.ok(delays.every((d) => d >= 0 && d < 20));
  assert.ok(new Set(delays).size > 1, `jittered delays should differ: ${delays}`);
});

test('a `reconnect` frame sets the delay before reconnecting (close 1012)', T, async () => {
  const hub = new FakeHub();
  hub.createTask('video_f');
  const client = makeClient(hub, { reconnect: { initialMs: 10, maxMs: 40 }, random: () => 0.5 });
  await client.connect();
  await client.subscribeTask('video_f', () => {});
  const events = [];
  let closedAt = 0;
  client.on('reconnecting', (e) => { events.push(e); closedAt = Date.now(); });
  const first = hub.last;
  first.reply('reconnect', { reason: 'shutdown', retryAfterMs: 150 });
  first.serverClose(1012, 'going away');
  await waitUntil(() => events.length >= 1, 1000, 'reconnecting event');
  assert.equal(events[0].code, 1012);
  assert.equal(events[0].delayMs, 155, 'retryAfterMs plus a jitter below initialMs');
  await waitUntil(() => hub.sockets.length === 2, 1000, 'second socket');
  const waited = hub.connectTimes[1] - closedAt;
  assert.ok(waited >= 149, `reconnected after ${waited}ms, before retryAfterMs`);
  assert.ok(waited < 400, `reconnected after ${waited}ms, far later than asked`);
  await waitUntil(() => client.state === 'ready' && hub.last.sentOfType('subscribe_task').length === 1, 1000, 'resubscribed');
  client.close();
});

test('a close 1012 without a `reconnect` frame falls back to backoff', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub, { reconnect: { initialMs: 10, maxMs: 40 }, random: () => 0.5 });
  await client.connect();
  const events = [];
  client.on('reconnecting', (e) => events.push(e));
  hub.last.serverClose(1012);
  await waitUntil(() => events.length >= 1);
  assert.equal(events[0].delayMs, 5);
  await waitUntil(() => client.state === 'ready' && hub.sockets.length === 2, 1000, 'reconnected');
  client.close();
});

test('reconnect: false closes for good on the first drop', T, async () => {
  const hub = new FakeHub();
  const client = makeClient(hub, { reconnect: false });
  await client.connect();
  const closes = [];
  client.on('close', (e) => closes.push(e));
  hub.last.serverClose(1006);
  await waitUntil(() => closes.length >= 1);
  assert.equal(closes[0].willReconnect, false);
  assert.equal(client.state, 'closed');
  await sleep(30);
  assert.equal(hub.sockets.length, 1);
});

test('a handler that throws does not stop delivery to others or later frames', T, async () => {
  const hub = new FakeHub();
  hub.createTask('video_g');
  const client = makeClient(hub);
  const errors = [];
  client.on('listenerError', (err) => errors.push(err.message));
  await client.connect();
  const seen = [];
  await client.subscribeTask('video_g', (f) => { if (f.type !== 'subscribed') throw new Error(`bad handler ${f.payload.seq}`); });
  await client.subscribeTask('video_g', (f) => { if (f.type !== 'subscribed') seen.push(f.payload.seq); });
  hub.event('video_g', 'taskProgress', { progress: 10 });
  hub.event('video_g', 'taskProgress', { progress: 20 });
  await waitUntil(() => seen.length >= 2, 1000, 'both frames');
  assert.deepEqual(seen, [2, 3]);
  assert.deepEqual(errors, ['bad handler 2', 'bad handler 3']);
  assert.equal(client.state, 'ready');
});

// Live tests against a real taskhub server (see testing/server.js for how one is
// found or spawned). They skip, saying why, when no server is configured:
//   TASKHUB_BIN=/work/main/target/debug/taskhub node --test test/live.test.js
//   TASKHUB_URL=http://127.0.0.1:8080 node --test test/live.test.js
import test, { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { TaskhubClient, TaskhubApi, isTerminalStatus, TASK_EVENT_TYPES } from '../taskhub.js';
import { liveSkipReason, startServer, pickTaskParams, waitFor } from '../testing/server.js';

const skip = liveSkipReason();
const T = { timeout: 45_000 };

/** A `ws` WebSocket that records what the client sends, to check resubscriptions. */
function recordingWebSocket(sent) {
  return class extends WebSocket {
    send(data, ...rest) {
      sent.push(JSON.parse(String(data)));
      return super.send(data, ...rest);
    }
  };
}

/** Follow one task and collect its frames until a terminal one. */
function collect(client, videoId, opts) {
  const frames = [];
  let snapshot = null;
  const handler = (f) => {
    if (f.type === 'subscribed') snapshot = f.payload.task;
    else frames.push(f);
  };
  const subscribed = client.subscribeTask(videoId, handler, opts);
  const terminal = () => frames.find((f) => isTerminalStatus(f.payload.status));
  return { frames, subscribed, terminal, snapshot: () => snapshot };
}

/** The contract's ordering rules for one task's frames. */
function assertWellOrdered(frames, videoId) {
  const seqs = frames.map((f) => f.payload.seq);
  for (let i = 1; i < seqs.length; i++) {
    assert.ok(seqs[i] > seqs[i - 1], `seq must strictly increase, got ${seqs.join(',')}`);
  }
  for (let i = 1; i < frames.length; i++) {
    assert.ok(frames[i].payload.progress >= frames[i - 1].payload.progress, 'progress never goes down');
  }
  for (const f of frames) {
    assert.ok(TASK_EVENT_TYPES.includes(f.type), `unexpected frame type ${f.type}`);
    assert.equal(f.payload.videoId, videoId);
    for (const k of ['externalVideoId', 'status', 'progress', 'seq']) assert.ok(k in f.payload, `payload lacks ${k}`);
    assert.equal(typeof f.timestamp, 'number');
  }
  const terminals = frames.filter((f) => isTerminalStatus(f.payload.status));
  assert.equal(terminals.length, 1, 'exactly one terminal frame');
  assert.equal(frames.at(-1), terminals[0], 'the terminal frame is the last one');
}

/** REST events route: accept an array or a page-like object. */
const eventList = (data) => (Array.isArray(data) ? data : (data?.items ?? data?.events ?? []));

if (skip) test('live server tests', { skip }, () => {});
else describe('live server', () => {
  /** @type {import('../testing/server.js').LiveServer} */
  let server;
  let params;
  const clients = [];

  const login = async () => {
    const api = new TaskhubApi({ baseUrl: server.url });
    const email = `js-live-${Date.now()}-${Math.random().toString(36).slice(2, 8)}@example.com`;
    const data = await api.testLogin(email);
    assert.equal(typeof data.accessToken, 'string');
    assert.equal(data.tokenType.toLowerCase(), 'bearer');
    assert.equal(data.user.email, email);
    api.user = data.user;
    return api;
  };

  const connect = async (api, opts = {}) => {
    const client = new TaskhubClient({ url: server.url, WebSocket, token: api.token, requestTimeoutMs: 10_000, ...opts });
    clients.push(client);
    await client.connect();
    return client;
  };

  const create = (api, prompt) => api.createTask({ prompt, ...params });

  before(async () => {
    server = await startServer();
    const api = await login();
    params = pickTaskParams(await api.models());
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.stop();
  });

  it('connects, authenticates and answers ping', T, async () => {
    const api = await login();
    const client = await connect(api);
    assert.equal(client.state, 'ready');
    assert.equal(typeof client.connection.connectionId, 'string');
    assert.equal(typeof client.connection.heartbeatIntervalMs, 'number');
    assert.equal(client.session.userId, api.user.id);
    const me = await api.me();
    assert.equal(me.id ?? me.user?.id, api.user.id);
    const pong = await client.ping();
    assert.equal(typeof pong.serverTime, 'number');
  });

  it('a task created over REST reports progress in seq order and completes', T, async () => {
    const api = await login();
    const client = await connect(api);
    const task = await create(api, 'a red fox running through fresh snow');
    assert.match(task.videoId, /^video_/);
    assert.ok(['queued', 'processing'].includes(task.status), `new task status ${task.status}`);
    // sinceSeq 0: replay the whole log, so nothing is missed between create and subscribe.
    const c = collect(client, task.videoId, { sinceSeq: 0 });
    const sub = await c.subscribed;
    assert.equal(sub.videoId, task.videoId);
    await waitFor(() => c.terminal(), 30_000, `task ${task.videoId} to finish`);
    await new Promise((r) => setTimeout(r, 300)); // anything after the terminal frame would be a bug
    assertWellOrdered(c.frames, task.videoId);
    const done = c.terminal();
    assert.equal(done.type, 'taskCompleted', `ended in ${done.type}: ${JSON.stringify(done.payload.error ?? {})}`);
    assert.equal(done.payload.status, 'completed');
    assert.equal(done.payload.progress, 100);
    assert.ok(done.payload.result?.videoUrl, 'taskCompleted carries result.videoUrl');
    assert.ok(c.frames.some((f) => f.type === 'taskProgress'), 'at least one taskProgress frame');
    assert.equal(c.frames[0].payload.seq, 1, 'replay from sinceSeq 0 starts at seq 1');

    const rest = await api.getTask(task.videoId);
    assert.equal(rest.status, 'completed');
    assert.equal(rest.seq, done.payload.seq);
    // Media URLs are signed when read, each with its own expiry: the file is the same, the
    // signature may differ by a second.
    const file = (u) => u.split('?')[0];
    assert.equal(file(rest.result.videoUrl), file(done.payload.result.videoUrl));
    assert.match(rest.result.videoUrl, /\?exp=\d+&sig=[0-9a-f]+$/);
    const log = eventList(await api.events(task.videoId));
    assert.equal(log.at(-1).payload?.seq ?? log.at(-1).seq, done.payload.seq, 'REST event log ends at the terminal seq');
    const content = await api.content(task.videoId);
    assert.equal(content.videoId, task.videoId);
    assert.ok(content.url);
  });

  it('a "[fail]" prompt ends in taskFailed with an error', T, async () => {
    const api = await login();
    const client = await connect(api);
    const task = await create(api, 'this one is meant to break [fail]');
    const c = collect(client, task.videoId, { sinceSeq: 0 });
    await c.subscribed;
    await waitFor(() => c.terminal(), 30_000, `task ${task.videoId} to fail`);
    assertWellOrdered(c.frames, task.videoId);
    const failed = c.terminal();
    assert.equal(failed.type, 'taskFailed');
    assert.equal(failed.payload.status, 'failed');
    assert.equal(typeof failed.payload.error?.code, 'string');
    assert.ok(failed.payload.error.code.length > 0);
    assert.equal(typeof failed.payload.error?.message, 'string');
    assert.ok('creditsRefunded' in failed.payload, 'taskFailed carries creditsRefunded');
    const rest = await api.getTask(task.videoId);
    assert.equal(rest.status, 'failed');
    assert.equal(rest.error.code, failed.payload.error.code);
  });

  it('a socket dropped mid-task resubscribes with sinceSeq and still sees the end, without duplicates', T, async () => {
    const api = await login();
    const sent = [];
    // Stay away ~1.2 s after the drop, so events happen while disconnected and must be replayed.
    const client = await connect(api, { WebSocket: recordingWebSocket(sent), reconnect: { initialMs: 1200, maxMs: 1200 }, random: () => 0.99 });
    const readies = [];
    const duplicates = [];
    client.on('ready', (e) => readies.push(e));
    client.on('duplicate', (f) => duplicates.push(f));
    const task = await create(api, 'a paper boat drifting down a rainy street');
    const c = collect(client, task.videoId);
    const sub = await c.subscribed;
    await waitFor(() => c.frames.length > 0 || isTerminalStatus(c.snapshot()?.status), 20_000, 'a first live frame');
    assert.ok(!c.terminal() && !isTerminalStatus(sub.task.status), 'the task finished before it could be interrupted; raise TASKHUB_SIMULATOR_SECONDS');
    const seenBeforeDrop = client.lastSeq(task.videoId);
    client.socket.terminate(); // abrupt: close 1006, no close frame

    await waitFor(() => c.terminal(), 30_000, `task ${task.videoId} to finish after the reconnect`);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(readies.length, 1, 'one reconnect'); // listener was added after the first ready
    assert.equal(readies[0].reconnected, true);
    const subs = sent.filter((f) => f.type === 'subscribe_task' && f.payload.videoId === task.videoId);
    assert.equal(subs.length, 2);
    assert.equal(subs[0].payload.sinceSeq, undefined);
    assert.equal(subs[1].payload.sinceSeq, seenBeforeDrop, 'resubscribed from the last seq seen');

    assertWellOrdered(c.frames, task.videoId);
    assert.equal(c.terminal().type, 'taskCompleted');
    const seqs = c.frames.map((f) => f.payload.seq);
    assert.equal(new Set(seqs).size, seqs.length, 'no duplicates delivered');
    // Everything delivered is in the server's log, with the same type.
    const log = eventList(await api.events(task.videoId));
    const byseq = new Map(log.map((e) => [e.payload?.seq ?? e.seq, e.type]));
    for (const f of c.frames) assert.equal(byseq.get(f.payload.seq), f.type, `frame seq ${f.payload.seq} matches the log`);
    assert.equal(Math.max(...byseq.keys()), c.terminal().payload.seq);
    if (duplicates.length) console.log(`server re-sent ${duplicates.length} old frame(s); the client dropped them`);
  });

  it('a user subscription sees taskCreated and the end of a new task', T, async () => {
    const api = await login();
    const client = await connect(api);
    const frames = [];
    const scope = await client.subscribeUser((f) => frames.push(f));
    assert.equal(scope.scope, 'user');
    const task = await create(api, 'a lighthouse at dusk, slow pan');
    await waitFor(() => frames.some((f) => f.payload.videoId === task.videoId && isTerminalStatus(f.payload.status)), 30_000, 'the task to finish');
    const mine = frames.filter((f) => f.payload.videoId === task.videoId);
    const created = mine.find((f) => f.type === 'taskCreated');
    assert.ok(created, 'taskCreated reaches the user subscription');
    assert.equal(created.payload.seq, 1);
    assert.equal(created.payload.prompt, 'a lighthouse at dusk, slow pan');
    assert.equal(created.payload.model, params.model);
    assertWellOrdered(mine, task.videoId);
  });

  it('subscribing to another user\'s task is refused', T, async () => {
    const owner = await login();
    const task = await create(owner, 'private footage');
    const other = await connect(await login());
    await assert.rejects(other.subscribeTask(task.videoId, () => {}), (e) => ['forbidden', 'notFound'].includes(e.code));
    await assert.rejects(other.subscribeTask('video_00000000-0000-7000-8000-000000000000', () => {}), (e) => ['forbidden', 'notFound'].includes(e.code));
  });
});

// The REST helper against a fake fetch: routes, envelope unwrapping, errors, tokens.
import test from 'node:test';
import assert from 'node:assert/strict';
import { TaskhubApi, TaskhubError, toWebSocketUrl, Emitter } from '../taskhub.js';

/** A fetch that records requests and answers from a route table. */
function fakeFetch(routes) {
  const calls = [];
  const fetch = async (url, init = {}) => {
    const u = new URL(url);
    const key = `${init.method} ${u.pathname}`;
    calls.push({ url: u, method: init.method, headers: init.headers ?? {}, body: init.body });
    const handler = routes[key];
    const [status, body] = handler ? handler(u, init) : [404, { success: false, error: { code: 'notFound', message: `no route ${key}` } }];
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    return new Response(text, { status, headers: { 'content-type': 'application/json' } });
  };
  return { fetch, calls };
}

const tokenResponse = (n) => ({
  success: true,
  data: { accessToken: `access-${n}`, refreshToken: `refresh-${n}`, tokenType: 'bearer', expiresIn: 900, user: { id: 'u1', username: 'a', email: 'a@x', role: 'user', createdAt: '2025-01-01T00:00:00Z' } },
});

test('testLogin stores the tokens and later calls send them as a Bearer header', async () => {
  const { fetch, calls } = fakeFetch({
    'POST /api/auth/test/login': () => [200, tokenResponse(1)],
    'GET /api/video/tasks/video_1': () => [200, { success: true, data: { videoId: 'video_1', seq: 3 } }],
  });
  const api = new TaskhubApi({ baseUrl: 'http://127.0.0.1:9/', fetch });
  const data = await api.testLogin('a@example.com');
  assert.equal(data.accessToken, 'access-1');
  assert.equal(api.token, 'access-1');
  assert.equal(api.refreshToken, 'refresh-1');
  assert.equal(calls[0].url.searchParams.get('email'), 'a@example.com');
  assert.equal(calls[0].headers.Authorization, undefined);
  const task = await api.getTask('video_1');
  assert.deepEqual(task, { videoId: 'video_1', seq: 3 });
  assert.equal(calls[1].headers.Authorization, 'Bearer access-1');
});

test('success:false throws a TaskhubError with status, code and message', async () => {
  const { fetch } = fakeFetch({
    'POST /api/video/tasks': () => [402, { success: false, error: { code: 'insufficientCredits', message: 'need 10 credits' } }],
  });
  const api = new TaskhubApi({ baseUrl: 'http://h', token: 't', fetch });
  await assert.rejects(api.createTask({ prompt: 'x', model: 'sora-2', seconds: 4, size: '1280x720' }), (e) => {
    assert.ok(e instanceof TaskhubError);
    assert.equal(e.status, 402);
    assert.equal(e.code, 'insufficientCredits');
    assert.equal(e.message, 'need 10 credits');
    return true;
  });
});

test('a non-envelope error response still throws with the HTTP status', async () => {
  const { fetch } = fakeFetch({ 'GET /api/video/stats': () => [502, 'Bad Gateway'] });
  const api = new TaskhubApi({ baseUrl: 'http://h', fetch });
  await assert.rejects(api.stats(), (e) => e.status === 502 && e.code === 'httpError');
});

test('createTask sends JSON, or multipart when an image is given', async () => {
  const { fetch, calls } = fakeFetch({ 'POST /api/video/tasks': () => [201, { success: true, data: { videoId: 'video_x' } }] });
  const api = new TaskhubApi({ baseUrl: 'http://h', token: 't', fetch });
  await api.createTask({ prompt: 'a cat', model: 'sora-2', seconds: 4, size: '720x1280' });
  assert.equal(calls[0].headers['Content-Type'], 'application/json');
  assert.deepEqual(JSON.parse(calls[0].body), { prompt: 'a cat', model: 'sora-2', seconds: 4, size: '720x1280' });

  const image = new Blob([new Uint8Array([137, 80, 78, 71])], { type: 'image/png' });
  await api.createTask({ prompt: 'a dog', model: 'sora-2', seconds: 8, size: '720x1280', quality: '', image });
  const form = calls[1].body;
  assert.ok(form instanceof FormData);
  assert.equal(calls[1].headers['Content-Type'], undefined, 'fetch must set the multipart boundary');
  assert.equal(form.get('prompt'), 'a dog');
  assert.equal(form.get('seconds'), '8');
  assert.equal(form.has('quality'), false, 'empty fields are left out');
  assert.equal((await form.get('image').arrayBuffer()).byteLength, 4);
  assert.equal(calls[1].headers['Idempotency-Key'], undefined);
});

test('createTask and retry send the idempotency key they are given', async () => {
  const created = () => [201, { success: true, data: { videoId: 'video_x' } }];
  const { fetch, calls } = fakeFetch({ 'POST /api/video/tasks': created, 'POST /api/video/tasks/video_1/retry': created });
  const api = new TaskhubApi({ baseUrl: 'http://h', token: 't', fetch });
  const params = { prompt: 'a cat', model: 'sora-2', seconds: 4, size: '720x1280' };
  await api.createTask(params, { idempotencyKey: 'key-1' });
  await api.createTask(params);
  assert.equal(calls[0].headers['Idempotency-Key'], 'key-1');
  await api.retry('video_1', { idempotencyKey: 'key-2' });
  assert.equal(calls[2].headers['Idempotency-Key'], 'key-2');
  await api.retry('video_1');
  assert.equal(calls[3].headers['Idempotency-Key'], undefined);
  assert.equal(calls[0].headers.Authorization, 'Bearer t');
  assert.equal(calls[1].headers['Idempotency-Key'], undefined);
});

test('every task route maps to its method and path', async () => {
  const ok = () => [200, { success: true, data: {} }];
  const routes = {};
  for (const r of [
    'GET /api/video/tasks', 'GET /api/video/tasks/video_1/events', 'POST /api/video/tasks/video_1/cancel',
    'POST /api/video/tasks/video_1/retry', 'DELETE /api/video/tasks/video_1', 'GET /api/video/tasks/video_1/content',
    'GET /api/video/stats', 'GET /api/video/models', 'GET /api/auth/me', 'GET /api/users/credits',
    'GET /api/users/credits/transactions', 'GET /api/payments/packages', 'POST /api/auth/register',
    'POST /api/auth/login', 'POST /api/auth/refresh', 'POST /api/auth/logout',
  ]) routes[r] = ok;
  routes['POST /api/auth/refresh'] = () => [200, tokenResponse(2)];
  const { fetch, calls } = fakeFetch(routes);
  const api = new TaskhubApi({ baseUrl: 'http://h', token: 't', refreshToken: 'r1', fetch });
  await api.listTasks({ page: 2, pageSize: 5, status: 'failed' });
  assert.equal(calls.at(-1).url.search, '?page=2&pageSize=5&status=failed');
  await api.events('video_1', 4);
  assert.equal(calls.at(-1).url.search, '?sinceSeq=4');
  await api.cancel('video_1');
  await api.retry('video_1');
  await api.delete('video_1');
  await api.content('video_1');
  await api.stats();
  await api.models();
  await api.me();
  await api.credits();
  await api.creditTransactions();
  await api.paymentPackages();
  await api.register({ username: 'a', email: 'a@x', password: 'pw123456' });
  await api.login('a', 'pw123456');
  assert.deepEqual(JSON.parse(calls.at(-1).body), { login: 'a', password: 'pw123456' });
  await api.refresh();
  assert.deepEqual(JSON.parse(calls.at(-1).body), { refreshToken: 'r1' });
  assert.equal(api.token, 'access-2');
  await api.logout();
  assert.deepEqual(JSON.parse(calls.at(-1).body), { refreshToken: 'refresh-2' });
  assert.equal(api.token, null);
  assert.equal(calls.length, 16);
});

test('toWebSocketUrl maps http(s) bases to the /ws endpoint', () => {
  assert.equal(toWebSocketUrl('http://127.0.0.1:8080'), 'ws://127.0.0.1:8080/ws');
  assert.equal(toWebSocketUrl('https://hub.example/'), 'wss://hub.example/ws');
  assert.equal(toWebSocketUrl('ws://h:1/ws?x=1'), 'ws://h:1/ws?x=1');
  assert.equal(toWebSocketUrl('http://h/custom/ws'), 'ws://h/custom/ws');
});

test('Emitter: on/off/once, and a throwing listener does not stop the others', () => {
  const e = new Emitter();
  const got = [];
  const errors = [];
  const a = (x) => got.push(`a${x}`);
  e.on('x', () => { throw new Error('boom'); });
  e.on('x', a);
  e.once('x', (x) => got.push(`once${x}`));
  e.on('listenerError', (err) => errors.push(err.message));
  e.emit('x', 1);
  e.off('x', a);
  e.emit('x', 2);
  assert.deepEqual(got, ['a1', 'once1']);
  assert.deepEqual(errors, ['boom', 'boom']);
  assert.equal(e.emit('nobody'), false);
});

// Cross-origin browser test (issue 10): a page served from a second origin (another port on
// 127.0.0.1, listed in TASKHUB_CORS_ORIGINS) registers and signs in over REST, creates a task
// and watches it over the WebSocket to completion; a page on a third origin, not listed, can
// neither read an API answer nor open the WebSocket. Headless Chromium via playwright-core and
// /usr/bin/chromium (never downloaded). Spawns its own server: needs TASKHUB_BIN.
//   TASKHUB_BIN=/path/to/target/debug/taskhub node --test test/cors.test.js
import test, { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import http from 'node:http';
import { startServer } from '../testing/server.js';

const CHROMIUM = process.env.TASKHUB_CHROMIUM ?? '/usr/bin/chromium';
const bin = process.env.TASKHUB_BIN;
const skip = !existsSync(CHROMIUM)
  ? `no browser at ${CHROMIUM} (apt-get install -y chromium, or set TASKHUB_CHROMIUM)`
  : !bin || !existsSync(bin) ? 'needs TASKHUB_BIN (the test sets the server\'s CORS origins itself)' : null;
const T = { timeout: 60_000 };

/** A tiny page server on its own port: another origin than the API's. */
async function pageServer() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>other origin</title><p>a page on another origin</p>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}

if (skip) test('browser: cross-origin page', { skip }, () => {});
else describe('browser: cross-origin page', () => {
  let api;
  let allowed;
  let other;
  let browser;

  before(async () => {
    allowed = await pageServer();
    other = await pageServer();
    api = await startServer({ env: { TASKHUB_CORS_ORIGINS: allowed.url, TASKHUB_CORS_MAX_AGE_SECS: '60' } });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });

  after(async () => {
    await browser?.close();
    await api?.stop();
    await allowed?.close();
    await other?.close();
  });

  async function openPage(origin) {
    const page = await browser.newPage();
    await page.goto(`${origin}/`);
    assert.equal(await page.evaluate(() => location.origin), origin);
    return page;
  }

  it('a listed origin signs in, creates a task and watches it to completion', T, async () => {
    const page = await openPage(allowed.url);
    const out = await page.evaluate(async (base) => {
      const json = { 'Content-Type': 'application/json' };
      const name = `xo${Date.now()}`;
      const password = 'fake-password-123';
      const reg = await fetch(`${base}/api/auth/register`, {
        method: 'POST', headers: json, body: JSON.stringify({ username: name, email: `${name}@example.com`, password }),
      });
      const login = await fetch(`${base}/api/auth/login`, {
        method: 'POST', headers: json, body: JSON.stringify({ login: name, password }),
      });
      const token = (await login.json()).data.accessToken;
      const auth = { ...json, Authorization: `Bearer ${token}` };
      const created = await fetch(`${base}/api/video/tasks`, {
        method: 'POST', headers: auth, body: JSON.stringify({ prompt: 'A fox seen from another origin', model: 'sora-2', seconds: 4, size: '720x1280' }),
      });
      const task = (await created.json()).data;
      const patched = await fetch(`${base}/api/users/profile`, {
        method: 'PATCH', headers: auth, body: JSON.stringify({ displayName: 'Cross Origin', language: 'ja' }),
      });
      const frames = await new Promise((resolve, reject) => {
        const seen = [];
        const ws = new WebSocket(`${base.replace('http', 'ws')}/ws?token=${encodeURIComponent(token)}`);
        const timer = setTimeout(() => reject(new Error(`no terminal frame: ${seen.join(',')}`)), 40_000);
        ws.onmessage = (m) => {
          const f = JSON.parse(m.data);
          seen.push(f.type);
          if (f.type === 'authSuccess') ws.send(JSON.stringify({ type: 'subscribe_task', payload: { videoId: task.videoId } }));
          if (['taskCompleted', 'taskFailed'].includes(f.type)) { clearTimeout(timer); ws.close(); resolve(seen); }
        };
        ws.onclose = (e) => { if (!seen.includes('taskCompleted')) { clearTimeout(timer); reject(new Error(`closed ${e.code}: ${seen.join(',')}`)); } };
      });
      return {
        statuses: [reg.status, login.status, created.status, patched.status],
        videoId: task.videoId,
        profile: (await patched.json()).data,
        remaining: created.headers.get('x-ratelimit-remaining'),
        requestId: created.headers.get('x-request-id'),
        frames,
      };
    }, api.url);
    assert.deepEqual(out.statuses, [201, 200, 201, 200]);
    assert.match(out.videoId, /^video_/);
    assert.equal(out.profile.displayName, 'Cross Origin');
    assert.match(out.remaining ?? '', /^\d+$/, 'X-RateLimit-Remaining is readable cross-origin');
    assert.match(out.requestId ?? '', /\S/, 'X-Request-Id is readable cross-origin');
    assert.deepEqual(out.frames.slice(0, 3), ['connected', 'authSuccess', 'subscribed']);
    assert.equal(out.frames.at(-1), 'taskCompleted', out.frames.join(','));
    await page.close();
  });

  it('an origin not listed can neither read the API nor open the WebSocket', T, async () => {
    const page = await openPage(other.url);
    const out = await page.evaluate(async (base) => {
      let read;
      try {
        await fetch(`${base}/api/users/recent`);
        read = 'readable';
      } catch (e) {
        read = `blocked: ${e.name}`;
      }
      const socket = await new Promise((resolve) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
        ws.onopen = () => { ws.close(); resolve('opened'); };
        ws.onclose = (e) => resolve(`closed ${e.code}`);
      });
      return { read, socket };
    }, api.url);
    assert.equal(out.read, 'blocked: TypeError');
    assert.equal(out.socket, 'closed 1006', 'the upgrade was refused (403)');
    await page.close();
    // The same socket from the listed origin opens, so the refusal is about the origin.
    const ok = await openPage(allowed.url);
    const opened = await ok.evaluate((base) => new Promise((resolve) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/ws`);
      ws.onopen = () => { ws.close(); resolve(true); };
      ws.onclose = () => resolve(false);
    }), api.url);
    assert.equal(opened, true);
    await ok.close();
  });
});

// Browser test of test-pages/websocket-test.html in headless Chromium (playwright-core,
// the system's /usr/bin/chromium; no browser is ever downloaded). Needs a live
// server, found like the live tests do (TASKHUB_URL or TASKHUB_BIN); skips otherwise.
//   TASKHUB_BIN=/work/main/target/debug/taskhub node --test test/browser.test.js
import test, { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { liveSkipReason, startServer } from '../testing/server.js';

const CHROMIUM = process.env.TASKHUB_CHROMIUM ?? '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM)
  ? `no browser at ${CHROMIUM} (apt-get install -y chromium, or set TASKHUB_CHROMIUM)`
  : liveSkipReason();
const T = { timeout: 60_000 };

if (skip) test('browser: websocket-test.html', { skip }, () => {});
else describe('browser: websocket-test.html', () => {
  let server;
  let browser;
  let page;
  const pageErrors = [];

  before(async () => {
    server = await startServer();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await browser.newPage();
    page.on('pageerror', (err) => pageErrors.push(String(err)));
    page.on('console', (msg) => { if (msg.type() === 'error') pageErrors.push(`console: ${msg.text()}`); });
    // The pages must work offline: no script, style, font or API call may leave the
    // server under test. (Media is the server's choice of result.videoUrl, so it is
    // only blocked, not counted against the page.)
    await page.route('**/*', (route) => {
      const req = route.request();
      if (req.url().startsWith(server.url)) return route.continue();
      if (!['media', 'image'].includes(req.resourceType())) pageErrors.push(`external ${req.resourceType()} request: ${req.url()}`);
      return route.abort();
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Save a screenshot next to the failure message, to see what the page showed. */
  async function screenshotOnFailure(name, fn) {
    try {
      await fn();
    } catch (err) {
      const file = join(tmpdir(), `taskhub-${name}-${Date.now()}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => {});
      const log = await page.textContent('[data-testid=frame-log]').catch(() => '');
      err.message += `\nscreenshot: ${file}\nframe log tail:\n${(log ?? '').slice(-2000)}`;
      throw err;
    }
  }

  async function createTask(prompt) {
    const before = await page.textContent('[data-testid=last-video-id]');
    await page.fill('[data-testid=prompt]', prompt);
    await page.click('[data-testid=create-task]');
    await page.waitForFunction(
      (prev) => { const t = document.querySelector('[data-testid=last-video-id]').textContent; return t !== prev && t.startsWith('video_'); },
      before, { timeout: 15_000 },
    ).catch(async (err) => {
      throw new Error(`no task was created: ${await page.textContent('[data-testid=notice]')} (${err.message})`);
    });
    const videoId = (await page.textContent('[data-testid=last-video-id]')).trim();
    return { videoId, card: `[data-testid=task-card][data-video-id="${videoId}"]` };
  }

  it('quick login connects the socket', T, () => screenshotOnFailure('login', async () => {
    await page.goto(`${server.url}/test-pages/websocket-test.html`);
    await page.fill('[data-testid=email]', `browser-${Date.now()}@example.com`);
    await page.click('[data-testid=test-login]');
    await page.waitForSelector('[data-testid=conn-state]:text-is("ready")', { timeout: 15_000 });
    assert.match(await page.inputValue('[data-testid=token]'), /\S+\.\S+\.\S+/, 'a JWT is shown');
  }));

  it('a task runs to completed and its video gets a src', T, () => screenshotOnFailure('completed', async () => {
    const { videoId, card } = await createTask('A red fox running through fresh snow');
    await page.waitForSelector(`${card}[data-status=completed]`, { timeout: 40_000 });
    assert.equal((await page.textContent(`${card} [data-testid=video-id]`)).trim(), videoId);
    assert.equal(await page.getAttribute(`${card} [data-testid=progress]`, 'aria-valuenow'), '100');
    assert.equal((await page.textContent(`${card} [data-testid=task-status]`)).trim(), 'completed');
    assert.equal((await page.textContent(`${card} [data-testid=task-message]`)).trim(), 'done');
    const src = await page.getAttribute(`${card} [data-testid=task-video]`, 'src');
    assert.ok(src && src.length > 0, 'the <video> has a src');
    assert.equal(await page.isVisible(`${card} [data-testid=task-video]`), true);
    assert.equal(await page.isVisible(`${card} [data-testid=task-error]`), false);
    const external = (await page.textContent(`${card} [data-testid=external-video-id]`)).trim();
    console.log(`${videoId} completed; externalVideoId ${external}; video ${src}`);
  }));

  it('a "[fail]" task shows failed with its error code and message', T, () => screenshotOnFailure('failed', async () => {
    const { card } = await createTask('This one is meant to break [fail]');
    await page.waitForSelector(`${card}[data-status=failed]`, { timeout: 40_000 });
    await page.waitForSelector(`${card} [data-testid=task-error]`, { state: 'visible', timeout: 5_000 });
    const text = (await page.textContent(`${card} [data-testid=task-error]`)).trim();
    assert.match(text, /^\w+: .+/, `error shown as "code: message", got "${text}"`);
    assert.equal(await page.isVisible(`${card} [data-testid=task-video]`), false);
  }));

  it('the page raised no errors and made no external requests', () => {
    assert.deepEqual(pageErrors, []);
  });
});

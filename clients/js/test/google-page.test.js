// Browser test of the QA page's "Sign in with Google" (test-pages/api-test.html): the
// authorization code + PKCE flow against the development fake issuer the server mounts at
// /dev/fake-google/ (TASKHUB_GOOGLE_FAKE, set by testing/server.js), in headless Chromium
// (playwright-core, the system's /usr/bin/chromium). Needs a live server like the live tests.
//   TASKHUB_BIN=/work/main/target/debug/taskhub node --test test/google-page.test.js
import test, { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { liveSkipReason, startServer } from '../testing/server.js';

const CHROMIUM = process.env.TASKHUB_CHROMIUM ?? '/usr/bin/chromium';
const skip = !existsSync(CHROMIUM)
  ? `no browser at ${CHROMIUM} (apt-get install -y chromium, or set TASKHUB_CHROMIUM)`
  : liveSkipReason();
const T = { timeout: 60_000 };

if (skip) test('browser: Sign in with Google', { skip }, () => {});
else describe('browser: Sign in with Google', () => {
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
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(server.url)) return route.continue();
      pageErrors.push(`external request: ${url}`);
      return route.abort();
    });
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('signs in through the fake issuer and fills the token', T, async () => {
    await page.goto(`${server.url}/test-pages/api-test.html`);
    await page.click('[data-testid=google-signin]');
    await page.waitForURL(/\/dev\/fake-google\/authorize\?.*code_challenge_method=S256/, { timeout: 15_000 });
    const email = `browser-google-${Date.now()}@example.com`;
    await page.fill('input[name=email]', email);
    await page.click('button[type=submit]');
    await page.waitForFunction(
      () => /Signed in|failed/.test(document.querySelector('[data-testid=google-status]')?.textContent ?? ''),
      null, { timeout: 15_000 },
    );
    const status = await page.textContent('[data-testid=google-status]');
    assert.equal(status, `Signed in with Google as ${email} (new account).`);
    assert.match(await page.inputValue('[data-testid=token]'), /\S+\.\S+\.\S+/, 'a JWT is shown');
    assert.equal(new URL(page.url()).search, '', 'the code is gone from the address bar');
    assert.deepEqual(pageErrors, []);
  });
});

// Finds or starts a real taskhub server for the live and browser tests.
//   TASKHUB_URL=http://host:port   use a running server
//   TASKHUB_BIN=/path/to/taskhub   spawn it on 127.0.0.1:0 with a fresh data dir
// Neither set: the tests skip (see liveSkipReason()).
// (Kept outside test/ so `node --test test/` does not run it as a test file.)

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LISTENING = /taskhub listening on (http:\/\/127\.0\.0\.1:\d+)/;

/**
 * Why the live tests cannot run here, or null when they can.
 * @returns {string | null}
 */
export function liveSkipReason() {
  if (process.env.TASKHUB_URL) return null;
  const bin = process.env.TASKHUB_BIN;
  if (!bin) return 'no server: set TASKHUB_URL=http://127.0.0.1:PORT (running server) or TASKHUB_BIN=/path/to/taskhub (spawned per run)';
  if (!existsSync(bin)) return `TASKHUB_BIN=${bin} does not exist (build it with cargo build first)`;
  return null;
}

/**
 * @typedef {object} LiveServer
 * @property {string} url base URL without a trailing slash, e.g. http://127.0.0.1:40123
 * @property {boolean} spawned whether this process started it
 * @property {() => string} output what the spawned server printed so far (for failure messages)
 * @property {() => Promise<void>} stop kill the spawned server and remove its data dir
 */

/**
 * Use TASKHUB_URL, or spawn TASKHUB_BIN and wait for its "listening" line.
 * @param {{startTimeoutMs?: number, simulatorSeconds?: number, env?: Record<string, string>}} [opts]
 *   env: more settings for a spawned server (ignored with TASKHUB_URL)
 * @returns {Promise<LiveServer>}
 */
export async function startServer(opts = {}) {
  if (process.env.TASKHUB_URL) {
    return { url: process.env.TASKHUB_URL.replace(/\/+$/, ''), spawned: false, output: () => '', stop: async () => {} };
  }
  const bin = process.env.TASKHUB_BIN;
  if (!bin) throw new Error('neither TASKHUB_URL nor TASKHUB_BIN is set');
  const dataDir = await mkdtemp(join(tmpdir(), 'taskhub-js-test-'));
  const child = spawn(bin, ['serve'], {
    env: {
      ...process.env,
      TASKHUB_ADDR: '127.0.0.1:0',
      TASKHUB_DATA_DIR: dataDir,
      TASKHUB_SIMULATOR_SECONDS: String(opts.simulatorSeconds ?? 2),
      TASKHUB_ENV: 'development',
      // The live tests sign up and create many tasks from 127.0.0.1: lift the REST rate
      // limits and the hashing-queue bound (they have their own tests in tests/api).
      TASKHUB_RATE_AUTH_PER_MIN: '1000000',
      TASKHUB_RATE_TASK_CREATE_PER_MIN: '1000000',
      TASKHUB_RATE_TASK_QUERY_PER_MIN: '1000000',
      TASKHUB_RATE_OTHER_PER_MIN: '1000000',
      TASKHUB_HASH_QUEUE_TIMEOUT_MS: '120000',
      TASKHUB_HASH_QUEUE_MAX: '100000',
      // The QA page's "Sign in with Google" runs against the development fake issuer.
      TASKHUB_GOOGLE_FAKE: 'true',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (chunk) => {
    out += chunk;
    if (out.length > 200_000) out = out.slice(-100_000); // keep the tail; never stop draining the pipes
  };
  child.stderr.setEncoding('utf8').on('data', keep);
  child.stdout.setEncoding('utf8');
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    const url = await new Promise((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new Error(`server did not print its listening line within ${opts.startTimeoutMs ?? 60_000} ms`)), opts.startTimeoutMs ?? 60_000);
      child.stdout.on('data', (chunk) => {
        keep(chunk);
        buf += chunk;
        const m = buf.match(LISTENING);
        if (m) { clearTimeout(timer); buf = ''; resolve(m[1]); }
        else if (buf.length > 100_000) buf = buf.slice(-1000);
      });
      child.once('error', (err) => { clearTimeout(timer); reject(err); });
      exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`server exited early (code ${code}, signal ${signal})`)); });
    });
    return { url, spawned: true, output: () => out, stop };
  } catch (err) {
    await stop();
    err.message += `\n--- server output ---\n${out.slice(-4000)}`;
    throw err;
  }
}

/**
 * Pick task parameters the server accepts, from GET /api/video/models. The shape
 * of that response is not fixed by the contract, so this reads the common forms
 * (an array, or {models|items: [...]}, each with id/model/name, seconds/durations,
 * sizes/resolutions) and falls back to Sora-like defaults.
 * @param {any} models the `data` of GET /api/video/models
 * @returns {{model: string, seconds: number | string, size: string}}
 */
export function pickTaskParams(models) {
  const list = Array.isArray(models) ? models : (models?.models ?? models?.items ?? models?.data ?? []);
  const m = Array.isArray(list) && list.length ? list[0] : {};
  const first = (...cands) => {
    for (const c of cands) {
      if (Array.isArray(c) && c.length) return typeof c[0] === 'object' && c[0] !== null ? (c[0].value ?? c[0].id ?? c[0].seconds ?? c[0].size) : c[0];
      if (c !== undefined && c !== null && typeof c !== 'object') return c;
    }
    return undefined;
  };
  return {
    model: typeof m === 'string' ? m : (first(m.id, m.model, m.name) ?? 'sora-2'),
    seconds: first(m.seconds, m.allowedSeconds, m.durations, m.secondsOptions) ?? 4,
    size: first(m.sizes, m.allowedSizes, m.resolutions, m.sizeOptions) ?? '1280x720',
  };
}

/**
 * Poll until `predicate()` is true.
 * @param {() => boolean} predicate
 * @param {number} timeoutMs
 * @param {string} what for the timeout message
 */
export async function waitFor(predicate, timeoutMs, what) {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

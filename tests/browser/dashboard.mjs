// tests/browser/dashboard.mjs: the dashboard in headless chromium, driven
// by playwright-core (tests/browser.sh runs it). Each test starts its own
// poold on a free port; jobs are submitted with curl, as a user would, and
// the page must show them without a reload. Prints "ok   name" or
// "FAIL name" a test, then "N passed, N failed"; screenshots go to
// $BROWSER_ARTIFACTS.
import {execFile, spawn} from 'node:child_process';
import {createServer} from 'node:net';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {chromium} from 'playwright-core';

const run = promisify(execFile);
const BIN = process.env.POOLD_BIN;
const ARTIFACTS = process.env.BROWSER_ARTIFACTS || 'build/browser';
const KEY = 'browser-key-42';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const {port} = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startPoold(extra = []) {
  const port = await freePort();
  const proc = spawn(BIN, ['--host', '127.0.0.1', '--port', String(port), '--processes', '2',
    '--store', 'memory', '--log-level', 'warn', ...extra], {stdio: ['ignore', 'ignore', 'inherit']});
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(base + '/readyz')).status === 200) return {proc, base};
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  throw new Error('poold did not start');
}

function stopPoold(p) {
  return new Promise((resolve) => {
    p.proc.on('exit', resolve);
    p.proc.kill('SIGTERM');
  });
}

async function curl(p, method, path, body, key) {
  const args = ['-s', '-X', method, p.base + path];
  if (body) args.push('-H', 'Content-Type: application/json', '-d', body);
  if (key) args.push('-H', 'Authorization: Bearer ' + key);
  const {stdout} = await run('curl', args);
  return stdout ? JSON.parse(stdout) : null;
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

// A page with its console errors (and uncaught exceptions) collected.
async function openPage(browser, p, viewport) {
  const page = await browser.newPage(viewport ? {viewport} : {});
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  lastPage = page;
  await page.goto(p.base + '/');
  return page;
}

let lastPage = null;
const rowStatus = (page, id) => page.locator(`#job-rows tr[data-id="${id}"] td.status`);

const tests = {
  async loads_with_no_console_error_and_shows_the_workers(browser) {
    const p = await startPoold();
    try {
      const page = await openPage(browser, p);
      check(page.url().endsWith('/dashboard'), 'GET / did not lead to /dashboard: ' + page.url());
      await page.locator('#workers tbody tr').nth(1).waitFor({timeout: 5000});
      check(await page.locator('#workers tbody tr').count() === 2, 'not two workers');
      await page.locator('#conn[data-state="live"]').waitFor({timeout: 5000});
      await page.locator('#counts li').first().waitFor({timeout: 5000}); // a pool.stats came
      await page.screenshot({path: join(ARTIFACTS, 'dashboard.png'), fullPage: true});
      check(page.errors.length === 0, 'console errors: ' + page.errors.join('; '));
    } finally {
      await stopPoold(p);
    }
  },

  async a_job_submitted_with_curl_appears_and_succeeds_without_a_reload(browser) {
    const p = await startPoold();
    try {
      const page = await openPage(browser, p);
      await page.locator('#conn[data-state="live"]').waitFor({timeout: 5000});
      const job = await curl(p, 'POST', '/v1/apply_async', '{"func": "sleep", "args": [1]}');
      await rowStatus(page, job.id).waitFor({timeout: 5000});
      await page.waitForFunction((id) => {
        const td = document.querySelector(`#job-rows tr[data-id="${id}"] td.status`);
        return td && td.textContent === 'succeeded';
      }, job.id, {timeout: 10000});
      // Its detail: arguments, result, timeline.
      await page.locator(`#job-rows tr[data-id="${job.id}"]`).click();
      await page.locator('#detail:not([hidden])').waitFor({timeout: 5000});
      check((await page.locator('#d-args').textContent()).includes('1'), 'no arguments shown');
      check((await page.locator('#d-timeline li').count()) >= 3, 'a short timeline');
      await page.screenshot({path: join(ARTIFACTS, 'job-succeeded.png'), fullPage: true});
      check(page.errors.length === 0, 'console errors: ' + page.errors.join('; '));
    } finally {
      await stopPoold(p);
    }
  },

  async the_cancel_button_cancels_a_running_job(browser) {
    const p = await startPoold();
    try {
      const page = await openPage(browser, p);
      await page.locator('#conn[data-state="live"]').waitFor({timeout: 5000});
      const job = await curl(p, 'POST', '/v1/apply_async', '{"func": "sleep", "args": [30]}');
      await page.waitForFunction((id) => {
        const td = document.querySelector(`#job-rows tr[data-id="${id}"] td.status`);
        return td && td.textContent === 'running';
      }, job.id, {timeout: 10000});
      await page.locator(`#job-rows tr[data-id="${job.id}"]`).click();
      await page.locator('#cancel:not([disabled])').click();
      await page.waitForFunction((id) => {
        const td = document.querySelector(`#job-rows tr[data-id="${id}"] td.status`);
        return td && td.textContent === 'cancelled';
      }, job.id, {timeout: 10000});
      await page.locator('#d-status', {hasText: 'cancelled'}).waitFor({timeout: 5000});
      const seen = await curl(p, 'GET', '/v1/jobs/' + job.id);
      check(seen.status === 'cancelled', 'the API says ' + seen.status);
      await page.screenshot({path: join(ARTIFACTS, 'job-cancelled.png'), fullPage: true});
    } finally {
      await stopPoold(p);
    }
  },

  async with_an_api_key_the_page_asks_for_it_and_uses_it(browser) {
    const p = await startPoold(['--api-key', KEY]);
    try {
      const page = await openPage(browser, p);
      await page.locator('#key-form:not([hidden])').waitFor({timeout: 5000});
      check(await page.locator('#main').isHidden(), 'data shown without a key');
      await page.fill('#key', 'wrong-key-000');
      await page.click('#key-form button');
      await page.locator('#key-error:not([hidden])').waitFor({timeout: 5000});
      await page.fill('#key', KEY);
      await page.click('#key-form button');
      await page.locator('#workers tbody tr').nth(1).waitFor({timeout: 5000});
      await page.locator('#conn[data-state="live"]').waitFor({timeout: 5000});
      const job = await curl(p, 'POST', '/v1/apply_async', '{"func": "echo", "args": [3]}', KEY);
      await rowStatus(page, job.id).waitFor({timeout: 5000});
      check(await page.evaluate(() => sessionStorage.getItem('poold.key')) === KEY, 'key not kept');
      await page.screenshot({path: join(ARTIFACTS, 'api-key.png'), fullPage: true});
    } finally {
      await stopPoold(p);
    }
  },

  async it_fits_a_phone(browser) {
    const p = await startPoold();
    try {
      const page = await openPage(browser, p, {width: 390, height: 844});
      await page.locator('#workers tbody tr').nth(1).waitFor({timeout: 5000});
      await curl(p, 'POST', '/v1/apply_async', '{"func": "echo", "args": ["a phone"]}');
      await page.locator('#job-rows tr').first().waitFor({timeout: 5000});
      const wide = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
      check(!wide, 'the page is wider than the phone');
      await page.screenshot({path: join(ARTIFACTS, 'phone.png'), fullPage: true});
      check(page.errors.length === 0, 'console errors: ' + page.errors.join('; '));
    } finally {
      await stopPoold(p);
    }
  },
};

const browser = await chromium.launch({executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  headless: true, args: ['--no-sandbox', '--disable-gpu']});
const pages = [];
let passed = 0;
let failed = 0;
for (const [name, fn] of Object.entries(tests)) {
  try {
    await fn(browser, pages);
    console.log('ok   ' + name);
    passed++;
  } catch (err) {
    console.log('FAIL ' + name + '\n    ' + String(err && err.message || err).split('\n')[0]);
    for (const e of lastPage ? lastPage.errors : []) console.log('    console: ' + e);
    failed++;
  }
}
await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);

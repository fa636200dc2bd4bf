// Screenshots of every dashboard screen, for reviewing the design: a fresh
// Keyplane with the demo organization (`keyplane demo`) on its own data dir
// and port, every screen at 1280 and 390 px, light and dark, saved as
// full-page PNGs in tmp/screenshots/ (keys-1280-light.png, ...).
//
// Run it with `make screenshots` (which builds bin/keyplane first), or
// `node web/e2e/screenshots.mjs` after a build. SCREENSHOTS_PORT moves the
// server (default 18680); CHROMIUM_PATH names the browser.
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '@playwright/test';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = resolve(root, 'tmp/screenshots');
const dataDir = resolve(root, 'tmp/screenshots-data');
const addr = `127.0.0.1:${process.env.SCREENSHOTS_PORT || 18680}`;
const baseURL = `http://${addr}`;
const binary = resolve(root, 'bin/keyplane');
const env = {
  ...process.env,
  KEYPLANE_ADDR: addr,
  KEYPLANE_BASE_URL: baseURL,
  KEYPLANE_DATA_DIR: dataDir,
  KEYPLANE_LOG_FORMAT: 'text',
  // The demo's webhook endpoint is on this machine, where nothing listens.
  KEYPLANE_WEBHOOK_ALLOW_PRIVATE: 'true',
};
delete env.DATABASE_URL;
delete env.REDIS_URL;

const widths = [1280, 390];
const themes = ['light', 'dark'];

// demo fills a new data dir and answers the people it printed.
function demo() {
  rmSync(dataDir, { recursive: true, force: true });
  const text = execFileSync(binary, ['demo'], { env, encoding: 'utf8' });
  const people = [...text.matchAll(/^(\S+@\S+)\s+(\S+)$/gm)].map((m) => ({ email: m[1], password: m[2] }));
  const admin = people.find((p) => p.email.startsWith('admin@'));
  const member = people.find((p) => p.email.startsWith('member@'));
  if (!admin || !member) throw new Error(`keyplane demo printed no passwords:\n${text}`);
  return { admin, member };
}

async function serve() {
  const server = spawn(binary, ['serve'], { env, stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${baseURL}/healthz`)).ok) return server;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  server.kill('SIGTERM');
  throw new Error(`keyplane did not answer on ${baseURL}`);
}

async function signIn(browser, person) {
  const context = await browser.newContext({ baseURL });
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Email').fill(person.email);
  await page.getByLabel('Password').fill(person.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/orgs\//);
  const state = await context.storageState();
  await context.close();
  return state;
}

// prepare adds what the demo lacks (an invite, a webhook endpoint) and
// finds the keys' pages.
async function prepare(browser, state) {
  const context = await browser.newContext({ baseURL, storageState: state });
  const page = await context.newPage();
  await page.goto('/orgs/demo/members');
  const invite = page.getByTestId('invite-form');
  await invite.getByLabel('Email').fill('new.colleague@example.com');
  await invite.getByLabel('Role').selectOption('member');
  await invite.getByTestId('invite-submit').click();
  const invitePath = new URL(await page.getByTestId('invite-link').inputValue()).pathname;

  await page.goto('/orgs/demo/webhooks/new');
  await page.getByLabel('Endpoint URL').fill('http://localhost:9/billing-hook');
  await page.getByLabel('Description (optional)').fill('Billing backend');
  await page.getByTestId('event-all').check();
  await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/orgs/demo/webhooks') && r.status() < 400),
    page.getByTestId('webhook-submit').click(),
  ]);
  await page.goto('/orgs/demo/webhooks');
  const webhookPath = await page.locator('main a[href*="/webhooks/"]').filter({ hasText: /Billing backend|localhost/ }).first().getAttribute('href');

  const keyPath = async (description) => {
    await page.goto(`/orgs/demo/keys?q=${encodeURIComponent(description)}`);
    return page.getByRole('link', { name: description, exact: true }).first().getAttribute('href');
  };
  const keys = { backend: await keyPath('Production backend'), payments: await keyPath('Payments service') };
  await context.close();
  return { invitePath, webhookPath, keys };
}

async function main() {
  const people = demo();
  const server = await serve();
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  try {
    const state = { admin: await signIn(browser, people.admin), member: await signIn(browser, people.member) };
    const seed = await prepare(browser, state.admin);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });

    // Each screen: who sees it, where, what to do before the picture, and
    // whether to take the viewport only (dialogs) rather than the page.
    const dialog = (opener, testid) => async (page) => {
      await page.locator(opener).first().click();
      await page.getByTestId(testid).waitFor();
    };
    const screens = [
      { name: 'login', path: '/login' },
      { name: 'invite', path: seed.invitePath },
      { name: 'not-found', who: 'admin', path: '/orgs/demo/keys/01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70' },
      { name: 'forbidden', who: 'member', path: '/orgs/demo/settings' },
      { name: 'account', who: 'admin', path: '/account' },
      { name: 'keys', who: 'admin', path: '/orgs/demo/keys' },
      { name: 'keys-member', who: 'member', path: '/orgs/demo/keys' },
      { name: 'new-key', who: 'admin', path: '/orgs/demo/keys', then: dialog('[data-testid="create-key"]', 'new-key-modal'), viewport: true },
      {
        name: 'reveal', who: 'admin', path: '/orgs/demo/keys/new',
        then: async (page) => {
          if (await page.getByTestId('product-chooser').count()) {
            await page.getByRole('radio', { name: /^Default/ }).check();
            await page.getByTestId('choose-product').click();
          }
          await page.getByLabel('Description').fill('Screenshot key');
          await page.getByRole('checkbox').first().check();
          await page.getByRole('button', { name: 'Create key' }).click();
          await page.getByTestId('revealed-key').waitFor();
        },
      },
      { name: 'key', who: 'admin', path: seed.keys.backend },
      { name: 'key-rotated', who: 'admin', path: seed.keys.payments },
      { name: 'revoke', who: 'admin', path: seed.keys.backend, then: dialog('[data-testid="revoke-key"]', 'revoke-modal'), viewport: true },
      { name: 'rotate', who: 'admin', path: seed.keys.backend, then: dialog('[data-testid="rotate-key"]', 'rotate-modal'), viewport: true },
      { name: 'members', who: 'admin', path: '/orgs/demo/members' },
      { name: 'usage', who: 'admin', path: '/orgs/demo/usage' },
      { name: 'audit', who: 'admin', path: '/orgs/demo/audit' },
      { name: 'settings', who: 'admin', path: '/orgs/demo/settings' },
      { name: 'webhooks', who: 'admin', path: '/orgs/demo/webhooks' },
      { name: 'webhook-new', who: 'admin', path: '/orgs/demo/webhooks/new' },
      { name: 'webhook', who: 'admin', path: seed.webhookPath },
      { name: 'admin-users', who: 'admin', path: '/admin/users' },
      { name: 'admin-orgs', who: 'admin', path: '/admin/orgs' },
      { name: 'admin-products', who: 'admin', path: '/admin/products' },
      { name: 'admin-tokens', who: 'admin', path: '/admin/tokens' },
      { name: 'api-docs', path: '/api/docs', themeless: true },
    ];

    let count = 0;
    for (const width of widths) {
      for (const theme of themes) {
        const contexts = {};
        const open = async (who) => {
          const key = who || 'anonymous';
          if (!contexts[key]) {
            contexts[key] = await browser.newContext({
              baseURL, storageState: who ? state[who] : undefined,
              viewport: { width, height: 900 }, colorScheme: theme,
            });
            await contexts[key].addCookies([{ name: 'kp_theme', value: theme, url: baseURL }]);
          }
          return contexts[key].newPage();
        };
        for (const screen of screens) {
          if (screen.themeless && theme === 'dark') continue;
          const page = await open(screen.who);
          await page.goto(screen.path);
          if (screen.then) await screen.then(page);
          // Let transitions and the charts' drawing settle.
          await page.waitForTimeout(150);
          const file = `${screen.name}-${width}-${theme}.png`;
          // A dialog is drawn over the screen as the viewer sees it; pages whole.
          await page.screenshot({ path: resolve(out, file), fullPage: !screen.viewport });
          await page.close();
          count++;
        }
        for (const c of Object.values(contexts)) await c.close();
      }
    }
    console.log(`${count} screenshots in ${out}`);
  } finally {
    await browser.close();
    server.kill('SIGTERM');
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

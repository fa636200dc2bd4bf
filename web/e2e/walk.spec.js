// The whole dashboard, screen by screen: every page and dialog as the person
// who sees it (the operator, an org admin, a member, a visitor), at 1280 and
// 390 px, light and dark. On each: axe finds nothing serious (colour
// contrast included), the page does not scroll sideways, and the browser
// logs no error, CSP violation or 5xx. Dialogs open by keyboard, close with
// Escape and give focus back.
//
// One setup step seeds an organization of its own ("walk") with its own
// people, through the dashboard and the management API; the other specs'
// organization and people are left alone.
import { createHmac } from 'node:crypto';
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { watch, signIn, memberPassword } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

test.describe.configure({ mode: 'serial' });

const slug = 'walk';
const people = {
  admin: { name: 'Wanda Walker', email: 'wanda.walk@example.com' },
  member: { name: 'Milo Walker', email: 'milo.walk@example.com' },
  // Has two-factor sign-in and no organization.
  loner: { name: 'Tia Walker', email: 'tia.walk@example.com' },
};

// What the setup step leaves for the walk: signed-in browser states, the
// ids of the seeded keys and webhook, the pending invite's path.
const seeded = { state: {}, keys: {} };

// base32 decodes RFC 4648 base32, spaces ignored.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    value = (value << 5) | alphabet.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// totp is RFC 6238: six digits of HMAC-SHA-1 over the 30-second step.
function totp(secret) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

async function passwordSignIn(page, email) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(memberPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function createUser(page, person) {
  const form = page.getByTestId('create-user-form');
  await form.getByLabel('Name').fill(person.name);
  await form.getByLabel('Email').fill(person.email);
  await form.getByLabel('Password').fill(memberPassword);
  await form.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('users-table')).toContainText(person.email);
}

// api calls the management API and answers the parsed body, failing on
// any status other than want.
async function api(request, method, path, headers, data, want = 200) {
  const res = await request.fetch(`/api/v1${path}`, { method, headers, data });
  expect(res.status(), `${method} ${path}: ${await res.text()}`).toBe(want);
  return res.json();
}

test('setup: an organization with keys, usage, members, an invite and a webhook', async ({ browser }) => {
  test.setTimeout(90_000);
  const operatorContext = await browser.newContext();
  const op = await operatorContext.newPage();
  const problems = [watch(op)];
  await signIn(op);
  await op.goto('/admin/users');
  for (const person of Object.values(people)) await createUser(op, person);

  // An operator token provisions the organization, its member and invite.
  await op.goto('/admin/tokens');
  const tokenForm = op.getByTestId('create-token-form');
  await tokenForm.getByLabel('Name').fill('Walk provisioning');
  await tokenForm.getByRole('button', { name: 'Create token' }).click();
  const opAuth = { Authorization: `Bearer ${await op.getByTestId('token-secret').inputValue()}` };
  await api(op.request, 'POST', '/admin/orgs', opAuth, { name: 'Walkway', slug, admin: people.admin.email }, 201);
  await api(op.request, 'POST', `/admin/orgs/${slug}/members`, opAuth, { email: people.member.email, role: 'member' }, 201);
  const invite = await api(op.request, 'POST', `/admin/orgs/${slug}/invites`, opAuth, { email: 'ivy.walk@example.com', role: 'member' }, 201);
  seeded.invitePath = new URL(invite.url).pathname;
  seeded.state.operator = await operatorContext.storageState();

  // The org admin makes a key for the management API in the dashboard.
  const adminContext = await browser.newContext();
  const admin = await adminContext.newPage();
  problems.push(watch(admin));
  await passwordSignIn(admin, people.admin.email);
  await expect(admin).toHaveURL(new RegExp(`/orgs/${slug}/keys`));
  await admin.getByTestId('create-key').first().click();
  const dialog = admin.getByTestId('new-key-modal');
  await chooseDefaultProduct(dialog);
  await dialog.getByLabel('Description').fill('Walk provisioning');
  await dialog.getByRole('checkbox', { name: /^keys:manage/ }).check();
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const keyAuth = { 'X-Api-Key': await admin.getByTestId('revealed-key').inputValue() };
  await admin.getByTestId('download-env').click();
  await admin.keyboard.press('Escape');
  await expect(admin.getByTestId('reveal-modal')).toBeHidden();
  seeded.state.admin = await adminContext.storageState();

  const create = (body) => api(admin.request, 'POST', '/keys', keyAuth, body, 201);
  const checkout = await create({ description: 'Checkout web', kind: 'public', scopes: ['read'], domains: ['shop.example.com', '*.example.org'] });
  const billing = await create({ description: 'Billing worker', scopes: ['read', 'write'], ips: ['203.0.113.0/24'], rate_limit_per_minute: 600 });
  const nightly = await create({ description: 'Nightly export', environment: 'test', scopes: ['read'] });
  const old = await create({ description: 'Old reporting', scopes: ['read'] });
  const mail = await create({ description: 'Mail sender with a rather long description that has to wrap on a phone', scopes: ['write'] });
  await api(admin.request, 'POST', `/keys/${nightly.id}/disable`, keyAuth, undefined);
  await api(admin.request, 'POST', `/keys/${old.id}/revoke`, keyAuth, undefined);
  const rotated = await api(admin.request, 'POST', `/keys/${mail.id}/rotate`, keyAuth, { grace: '24h' }, 201);
  seeded.keys = { billing: billing.id, old: old.id, mail: mail.id };

  // Traffic, allowed and refused, from a few places; the old mail key still
  // gets some during its grace period.
  const verify = async (key, n, extra) => {
    for (let i = 0; i < n; i++) await admin.request.post('/v1/verify', { data: { key, ...extra } });
  };
  await verify(billing.secret, 6, { scope: 'read', ip: '203.0.113.7' });
  await verify(billing.secret, 2, { scope: 'read', ip: '198.51.100.9' });
  await verify(billing.secret, 2, { scope: 'admin', ip: '203.0.113.8' });
  await verify(checkout.secret, 3, { scope: 'read', origin: 'https://shop.example.com', ip: '192.0.2.44' });
  await verify(checkout.secret, 1, { scope: 'read', origin: 'https://evil.example.net', ip: '192.0.2.45' });
  await verify(mail.secret, 4, { scope: 'write', ip: '192.0.2.10' });
  await verify(rotated.secret, 2, { scope: 'write', ip: '192.0.2.11' });

  // A webhook endpoint no one listens on: its page lists failed deliveries.
  const hook = await api(admin.request, 'POST', '/webhooks', keyAuth, { url: 'http://127.0.0.1:9/walk-hook', description: 'Walk receiver', events: ['*'] }, 201);
  seeded.webhook = hook.id;

  // The member, and someone in no organization who turns on two-factor.
  const memberContext = await browser.newContext();
  const member = await memberContext.newPage();
  problems.push(watch(member));
  await passwordSignIn(member, people.member.email);
  await expect(member).toHaveURL(new RegExp(`/orgs/${slug}/keys`));
  seeded.state.member = await memberContext.storageState();

  const lonerContext = await browser.newContext();
  const loner = await lonerContext.newPage();
  problems.push(watch(loner));
  await passwordSignIn(loner, people.loner.email);
  await expect(loner.getByTestId('nav-account')).toBeVisible();
  await loner.goto('/account');
  await loner.getByRole('button', { name: 'Set up two-factor' }).click();
  const secret = (await loner.getByTestId('two-factor-secret').innerText()).replace(/\s/g, '');
  await loner.getByLabel('Code from the app').fill(totp(secret));
  await loner.getByRole('button', { name: 'Turn on two-factor' }).click();
  await expect(loner.getByTestId('recovery-code')).toHaveCount(10);
  await loner.getByTestId('recovery-done').click();
  seeded.state.loner = await lonerContext.storageState();

  // The counts reach the database within a flush.
  await expect(async () => {
    const page = await admin.request.get(`/orgs/${slug}/keys/${seeded.keys.billing}`);
    expect(await page.text()).toContain('203.0.113.7');
  }).toPass({ timeout: 20_000 });

  expect(problems.flat()).toEqual([]);
  for (const c of [operatorContext, adminContext, memberContext, lonerContext]) await c.close();
});

// Walker opens browsers for one width and theme and checks screens.
class Walker {
  constructor(browser, baseURL, width, theme) {
    Object.assign(this, { browser, baseURL, width, theme, contexts: [] });
  }

  // as opens a page signed in as who (undefined: nobody), in this width and theme.
  async as(who) {
    const context = await this.browser.newContext({
      baseURL: this.baseURL,
      storageState: who ? seeded.state[who] : undefined,
      viewport: { width: this.width, height: 900 },
      colorScheme: this.theme,
    });
    await context.addCookies([{ name: 'kp_theme', value: this.theme, url: this.baseURL }]);
    await context.addInitScript(() => {
      window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
      });
    });
    this.contexts.push(context);
    const page = await context.newPage();
    page.problems = watch(page);
    return page;
  }

  // check asserts what every screen meets, on the page as it is now. Its
  // findings are soft, so one run lists every screen that falls short.
  // axe runs as expectAccessible does (every rule on by default), in its
  // single-page mode and reporting violations only: several times faster,
  // and the pages have no frames.
  async check(page, name, { themed = true, exclude } = {}) {
    const label = `${name} at ${this.width} px, ${this.theme}`;
    await test.step(label, async () => {
      if (themed) {
        if (this.theme === 'dark') await expect(page.locator('html')).toHaveClass(/\bdark\b/);
        else await expect(page.locator('html')).not.toHaveClass(/\bdark\b/);
      }
      const axe = new AxeBuilder({ page }).setLegacyMode(true).options({ resultTypes: ['violations'] });
      if (exclude) axe.exclude(exclude);
      const results = await axe.analyze();
      const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
      expect.soft(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`), `${label}: axe`).toEqual([]);
      const checked = [...results.passes, ...results.violations, ...results.incomplete].map((r) => r.id);
      if (!exclude) expect.soft(checked, `${label}: axe checked colour contrast`).toContain('color-contrast');
      const { scrollWidth, clientWidth } = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        clientWidth: document.documentElement.clientWidth,
      }));
      expect.soft(scrollWidth, `${label}: ${scrollWidth} px wide in a ${clientWidth} px viewport`).toBeLessThanOrEqual(clientWidth);
      expect.soft(await page.evaluate(() => window.cspViolations), `${label}: CSP violations`).toEqual([]);
      expect.soft([...page.problems], `${label}: console errors and 5xx`).toEqual([]);
      page.problems.length = 0;
    });
  }

  // visit loads path, expects status, and checks it.
  async visit(page, path, name, status = 200, options = {}) {
    const res = await page.goto(path);
    expect(res.status(), `${name}: ${path}`).toBe(status);
    await this.check(page, name, options);
  }

  // dialog opens a dialog by keyboard from opener, checks it, closes it
  // with Escape and expects focus back on the opener.
  async dialog(page, opener, testid, name) {
    await opener.focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByTestId(testid);
    await expect(dialog).toBeVisible();
    await this.check(page, name);
    await page.keyboard.press('Escape');
    await expect(dialog).toBeHidden();
    await expect(opener).toBeFocused();
  }

  async close() {
    for (const c of this.contexts) await c.close();
  }
}

for (const width of [1280, 390]) {
  for (const theme of ['light', 'dark']) {
    test(`every screen at ${width} px, ${theme}`, async ({ browser, baseURL }) => {
      // About 30 screens, each through axe.
      test.setTimeout(180_000);
      const w = new Walker(browser, baseURL, width, theme);
      const org = `/orgs/${slug}`;
      const { keys } = seeded;

      // Signed out.
      const visitor = await w.as();
      await w.visit(visitor, '/login', 'login');
      await w.visit(visitor, '/setup', 'setup, once done', 404);
      await w.visit(visitor, seeded.invitePath, 'invite');
      await passwordSignIn(visitor, people.loner.email);
      await expect(visitor).toHaveURL(/\/login\/two-factor$/);
      await w.check(visitor, 'two-factor sign-in step');

      // Someone in no organization.
      const loner = await w.as('loner');
      await w.visit(loner, '/', 'no organization');

      // The operator.
      const op = await w.as('operator');
      for (const [path, name] of [
        ['/admin/users', 'admin users'],
        ['/admin/orgs', 'admin organizations'],
        ['/admin/products', 'admin products'],
        ['/admin/tokens', 'admin tokens'],
      ]) await w.visit(op, path, name);
      // The API's reference has no dark mode: once per width. Swagger UI's
      // own markup is left out of axe: it nests controls in its operation
      // summaries, leaves its servers menu unlabelled and draws its method
      // badges below 4.5:1, which needs an override of its stylesheet.
      if (theme === 'light') {
        await op.goto('/api/docs');
        await expect(op.locator('.swagger-ui .info .title')).toBeVisible();
        await w.check(op, 'API docs', { themed: false, exclude: '.swagger-ui' });
      }
      await op.goto('/admin/tokens');
      const revokeToken = op.getByTestId('token-row').filter({ hasText: 'Walk provisioning' }).getByTestId('token-revoke');
      await w.dialog(op, revokeToken, 'revoke-token-modal', 'revoke token dialog');

      // The org admin.
      const admin = await w.as('admin');
      await w.visit(admin, '/account', 'account');
      await w.visit(admin, `${org}/keys`, 'keys');

      // New key, by keyboard, then created: the reveal.
      const opener = admin.getByTestId('create-key').first();
      await opener.focus();
      await admin.keyboard.press('Enter');
      const form = admin.getByTestId('new-key-modal');
      await chooseDefaultProduct(form);
      await w.check(admin, 'new key dialog');
      await admin.keyboard.press('Escape');
      await expect(form).toBeHidden();
      await expect(opener).toBeFocused();
      await admin.keyboard.press('Enter');
      await chooseDefaultProduct(form);
      await form.getByLabel('Description').fill(`Walk reveal ${width} ${theme}`);
      await form.getByRole('checkbox', { name: /^read/ }).check();
      await form.getByRole('button', { name: 'Create key' }).click();
      const reveal = admin.getByTestId('reveal-modal');
      await expect(reveal).toBeVisible();
      await w.check(admin, 'reveal dialog');
      // Not copied: Escape asks first.
      await admin.keyboard.press('Escape');
      await expect(reveal.getByTestId('reveal-confirm')).toBeVisible();
      await reveal.getByTestId('reveal-discard').click();
      await expect(reveal).toBeHidden();
      await expect(opener).toBeFocused();

      await w.visit(admin, `${org}/keys/${keys.billing}`, 'key with usage and where it is used');
      await expect(admin.getByTestId('key-sources')).toContainText('203.0.113.7');
      await w.dialog(admin, admin.getByTestId('revoke-key'), 'revoke-modal', 'revoke dialog');
      await w.dialog(admin, admin.getByTestId('rotate-key'), 'rotate-modal', 'rotate dialog');
      await w.visit(admin, `${org}/keys/${keys.mail}`, 'rotated key in its grace period');
      await expect(admin.getByTestId('successor')).toBeVisible();
      await w.visit(admin, `${org}/keys/${keys.old}`, 'revoked key');

      await w.visit(admin, `${org}/members`, 'members with an invite pending');
      await expect(admin.getByTestId('invite-row')).toContainText('ivy.walk@example.com');
      await w.visit(admin, `${org}/usage`, 'usage');
      await w.visit(admin, `${org}/audit`, 'audit log');
      await w.visit(admin, `${org}/settings`, 'settings');
      await w.visit(admin, `${org}/webhooks`, 'webhooks');
      await w.visit(admin, `${org}/webhooks/new`, 'new webhook');
      await w.visit(admin, `${org}/webhooks/${seeded.webhook}`, 'webhook endpoint');
      await w.visit(admin, `${org}/keys/01960b1e-7c3a-7d7e-9f3a-2b8c4d5e6f70`, 'unknown key', 404);

      // The member.
      const member = await w.as('member');
      await w.visit(member, `${org}/keys`, 'keys, as a member');
      await w.visit(member, `${org}/settings`, 'admin page, as a member', 403);

      await w.close();
    });
  }
}

// The platform's backend signs one of its users into Keyplane: an operator
// token, a member, a portal link opened in a browser that never signed in;
// Continue lands on the organization's keys page with a link back to the
// platform, and the link works only once.
import { test, expect } from '@playwright/test';
import { signIn, watch, expectAccessible } from './helpers.js';

test('a portal link signs a member in, once, with a way back', async ({ page, browser }) => {
  await signIn(page);

  // An operator token, asked for with the session's CSRF token.
  await page.goto('/admin/tokens');
  const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
  const made = await page.request.post('/admin/tokens', { form: { name: 'Portal backend', _csrf: csrf } });
  expect(made.status()).toBe(201);
  const token = (await made.text()).match(/kp_op_[0-9A-Za-z]{36}/)[0];
  const auth = { Authorization: `Bearer ${token}` };

  const email = `pat-${Date.now()}@example.com`;
  const user = await page.request.post('/api/v1/admin/users', { headers: auth, data: { email, name: 'Pat Portal' } });
  expect(user.status()).toBe(201);
  const member = await page.request.post('/api/v1/admin/orgs/acme/members', { headers: auth, data: { email, role: 'member' } });
  expect(member.status()).toBe(201);
  const link = await page.request.post('/api/v1/admin/portal-sessions', {
    headers: auth,
    data: { org: 'acme', email, return_url: 'http://localhost:3000/settings/api' },
  });
  expect(link.status()).toBe(201);
  expect(link.headers()['cache-control']).toBe('no-store');
  const path = new URL((await link.json()).url).pathname;

  const context = await browser.newContext();
  const visitor = await context.newPage();
  const problems = watch(visitor);
  await visitor.goto(path);
  await expect(visitor.getByTestId('portal-page')).toContainText(email);
  await expectAccessible(visitor);
  await visitor.getByRole('button', { name: 'Continue' }).click();

  await expect(visitor).toHaveURL(/\/orgs\/acme\/keys$/);
  const back = visitor.getByTestId('portal-back');
  await expect(back).toHaveText('← Back to localhost:3000');
  await expect(back).toHaveAttribute('href', 'http://localhost:3000/settings/api');
  await expect(visitor.getByTestId('nav-role')).toHaveText('member');
  await expectAccessible(visitor);

  // Spent: the link now answers 410 with a page that says so.
  const again = await visitor.goto(path);
  expect(again.status()).toBe(410);
  await expect(visitor.getByTestId('portal-gone')).toContainText('expired or was already used');
  await expectAccessible(visitor);

  expect(problems).toEqual([]);
  await context.close();
});

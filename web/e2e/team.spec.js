// A team in a real browser: an admin invites a colleague, who accepts in a
// fresh browser, sees the keys without controls, is promoted, and the audit
// log shows all of it.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';

test('invite, accept, promote, and find it all in the audit log', async ({ page, browser }) => {
  const problems = watch(page);
  await signIn(page);

  await page.getByRole('link', { name: 'Members' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/members$/);
  await expectAccessible(page);
  const invite = page.getByTestId('invite-form');
  await invite.getByLabel('Email').fill('nora@example.com');
  await invite.getByLabel('Role').selectOption('member');
  await invite.getByTestId('invite-submit').click();
  const link = await page.getByTestId('invite-link').inputValue();
  expect(link).toMatch(/\/invites\/[A-Za-z0-9_-]{40,}$/);
  await page.getByRole('link', { name: 'I have copied the link' }).click();
  await expect(page.getByTestId('invite-row')).toContainText('nora@example.com');

  // The invitee, in a browser of their own.
  const theirs = await browser.newContext();
  const nora = await theirs.newPage();
  const noraProblems = watch(nora);
  await nora.goto(new URL(link).pathname);
  await expect(nora.getByTestId('invite-page')).toBeVisible();
  await expectAccessible(nora);
  await nora.getByLabel('Your name').fill('Nora Newcomer');
  await nora.getByLabel('Choose a password').fill('nora-has-a-long-password');
  await nora.getByTestId('accept-invite').click();
  await expect(nora).toHaveURL(/\/orgs\/acme\/keys/);
  await expect(nora.getByTestId('nav-role')).toHaveText('member');
  await expect(nora.getByTestId('create-key')).toHaveCount(0);

  // The link works once.
  const again = await nora.request.get(new URL(link).pathname);
  expect(again.status()).toBe(404);

  // The admin promotes the newcomer.
  await page.reload();
  const row = page.getByTestId('member-row').filter({ hasText: 'nora@example.com' });
  await expect(row).toBeVisible();
  await row.getByLabel('Role of nora@example.com').selectOption('admin');
  // The form goes through htmx (boosted), carrying the CSRF header.
  const [roleRequest] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/role')),
    row.getByRole('button', { name: 'Change role' }).click(),
  ]);
  expect(roleRequest.headers()['hx-request']).toBe('true');
  expect(roleRequest.headers()['x-csrf-token']).toBeTruthy();
  await expect(page.getByTestId('member-row').filter({ hasText: 'nora@example.com' }).getByTestId('member-role')).toContainText('admin');

  // Promotion takes effect on the newcomer's next page.
  await nora.goto('/orgs/acme/keys');
  await expect(nora.getByTestId('nav-role')).toHaveText('admin');
  await expect(nora.getByTestId('create-key').first()).toBeVisible();

  await page.getByRole('link', { name: 'Audit log' }).click();
  const log = page.locator('table');
  await expect(log).toContainText('member.invited');
  await expect(log).toContainText('member.joined');
  await expect(log).toContainText('member.role_changed');
  await expect(log).toContainText('nora@example.com');
  await expectAccessible(page);

  expect(problems).toEqual([]);
  expect(noraProblems).toEqual([]);
  await theirs.close();
});

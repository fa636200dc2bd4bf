// A team in a real browser: an admin invites a colleague, who accepts in a
// fresh browser, sees the keys without controls, is promoted, and the audit
// log shows all of it.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn, addMember } from './helpers.js';

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
  // The admin's own row has no controls.
  const own = page.getByTestId('member-row').filter({ has: page.getByTestId('member-you') });
  await expect(own).toContainText('olivia@example.com');
  await expect(own.getByRole('button')).toHaveCount(0);
  await expect(own.getByTestId('remove-member')).toHaveCount(0);
  const counts = page.getByTestId('members-count');
  const admins = Number((await counts.textContent()).match(/(\d+) admins?/)[1]);
  // The button posts through htmx, carrying the CSRF header; the list and
  // its counts are swapped in place, and focus stays on the control.
  const [roleRequest] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && r.url().includes('/role')),
    row.getByRole('button', { name: 'Make admin' }).click(),
  ]);
  expect(roleRequest.headers()['hx-request']).toBe('true');
  expect(roleRequest.headers()['x-csrf-token']).toBeTruthy();
  await expect(row.getByTestId('member-role')).toHaveText('admin');
  await expect(counts).toContainText(`${admins + 1} admins`);
  await expect(row.getByRole('button', { name: 'Make member' })).toBeFocused();
  await expect(page.getByTestId('toast')).toContainText('nora@example.com is now an admin.');

  // Promotion takes effect on the newcomer's next page.
  await nora.goto('/orgs/acme/keys');
  await expect(nora.getByTestId('nav-role')).toHaveText('admin');
  await expect(nora.getByTestId('create-key').first()).toBeVisible();

  await page.getByRole('link', { name: 'Audit log' }).click();
  const log = page.locator('table');
  // Events in words, not codes.
  await expect(log).toContainText('Member invited');
  await expect(log).toContainText('Member joined');
  await expect(log).toContainText('Role changed');
  await expect(log).not.toContainText('member.role_changed');
  await expect(log).toContainText('nora@example.com');
  await expectAccessible(page);

  expect(problems).toEqual([]);
  expect(noraProblems).toEqual([]);
  await theirs.close();
});

test('removing a member asks in a dialog, usable by keyboard', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  await addMember(page, 'Rita Remote', 'rita@example.com');
  await page.goto('/orgs/acme/members');
  const row = page.getByTestId('member-row').filter({ hasText: 'rita@example.com' });
  const counts = page.getByTestId('members-count');
  const members = Number((await counts.textContent()).match(/(\d+) members?/)[1]);

  // Escape closes the dialog and gives focus back to Remove.
  const remove = row.getByRole('link', { name: 'Remove rita@example.com' });
  await remove.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByTestId('remove-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('heading')).toHaveText('Remove Rita Remote from Acme?');
  await expect(dialog).toContainText('lose access to Acme at once');
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await expectAccessible(page);
  // Focus never reaches the page behind the dialog (past the last control
  // it may leave for the browser's own controls, then comes back).
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press('Tab');
    const outside = await page.evaluate(() => {
      const a = document.activeElement;
      return !!a && a !== document.body && !a.closest('dialog[open]');
    });
    expect(outside).toBe(false);
  }
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(remove).toBeFocused();
  await expect(row).toBeVisible();

  // Confirmed by keyboard: the row leaves, the count follows, the toast says so.
  await page.keyboard.press('Enter');
  await expect(dialog).toBeVisible();
  await dialog.getByTestId('confirm-remove').focus();
  await page.keyboard.press('Enter');
  await expect(dialog).toBeHidden();
  await expect(row).toHaveCount(0);
  await expect(counts).toContainText(`${members - 1} member`);
  await expect(page.getByTestId('toast')).toContainText('Removed rita@example.com from Acme.');
  await expect(page.getByRole('heading', { name: 'Members', level: 1 })).toBeFocused();
  expect(problems).toEqual([]);
});

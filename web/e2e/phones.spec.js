// A phone, 390 px wide: the keys, a key, members, the audit log and the
// operator's pages fit the screen (tables become cards), pass axe, and a
// key's card still shows its status, when it was last used and its action.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

test.describe.configure({ mode: 'serial' });

// fits asserts that the page does not scroll sideways and passes axe.
async function fits(page) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  expect(scrollWidth, `${page.url()} scrolls sideways`).toBeLessThanOrEqual(clientWidth);
  await expectAccessible(page);
}

test.beforeEach(async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
});

test('the keys and a key fit a phone; a key card keeps status, last used and its action', async ({ page }) => {
  // axe over a list that earlier specs filled takes a while.
  test.setTimeout(60_000);
  const problems = watch(page);
  await signIn(page);

  // A key with a long description, so its card has to wrap.
  await page.getByTestId('create-key').first().click();
  const form = page.getByTestId('new-key-modal');
  await chooseDefaultProduct(form);
  await form.getByLabel('Description').fill('Phone checkout widget for the mobile storefront backend');
  await form.getByRole('checkbox', { name: /^read/ }).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  await reveal.getByTestId('download-env').click();
  await page.keyboard.press('Escape');
  await expect(reveal).toBeHidden();

  await page.goto('/orgs/acme/keys');
  await fits(page);
  const row = page.getByTestId('key-row').filter({ hasText: 'Phone checkout widget' });
  await expect(row.getByTestId('key-status')).toBeVisible();
  await expect(row.getByTestId('key-status')).toHaveText('active');
  await expect(row.getByTestId('key-last-used')).toBeVisible();
  await expect(row.getByTestId('key-last-used')).toHaveText('Never used');
  await expect(row.getByRole('link', { name: /^Disable Phone checkout widget/ })).toBeVisible();
  // The cells carry their headings where the table is stacked.
  await expect(row.getByText('Last used', { exact: true })).toBeVisible();
  await expect(row.getByText('Status', { exact: true })).toBeVisible();
  // Sorting stays at hand.
  await expect(page.getByTestId('sort-last_used')).toBeVisible();

  await row.getByRole('link', { name: 'Phone checkout widget for the mobile storefront backend', exact: true }).click();
  await expect(page.getByTestId('key-description')).toBeVisible();
  await fits(page);
  expect(problems).toEqual([]);
});

test('members and the audit log fit a phone', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  await page.goto('/orgs/acme/members');
  const own = page.getByTestId('member-row').filter({ has: page.getByTestId('member-you') });
  await expect(own.getByTestId('member-role')).toBeVisible();
  await fits(page);

  await page.goto('/orgs/acme/audit');
  const event = page.getByTestId('audit-row').first();
  await expect(event.getByTestId('audit-time')).toBeVisible();
  await expect(event.getByTestId('audit-time')).toHaveText(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  await expect(event.getByTestId('audit-actor')).toBeVisible();
  await expect(event.getByTestId('audit-action')).toBeVisible();
  await fits(page);
  expect(problems).toEqual([]);
});

test("the operator's pages fit a phone", async ({ page }) => {
  test.setTimeout(60_000);
  const problems = watch(page);
  await signIn(page);
  for (const path of ['/admin/users', '/admin/orgs', '/admin/tokens', '/admin/products']) {
    await page.goto(path);
    await fits(page);
  }
  expect(problems).toEqual([]);
});

test('the operator confirms disabling a user in a dialog', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  await page.goto('/admin/users');
  const create = page.getByTestId('create-user-form');
  await create.getByLabel('Name').fill('Dora Disabled');
  await create.getByLabel('Email').fill('dora@example.com');
  await create.getByLabel('Password').fill('a-long-enough-password');
  await create.getByRole('button', { name: 'Create user' }).click();
  const row = page.getByTestId('user-row').filter({ hasText: 'dora@example.com' });
  await expect(row).toBeVisible();

  const disable = row.getByRole('link', { name: 'Disable dora@example.com' });
  await disable.click();
  const dialog = page.getByTestId('disable-user-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('heading')).toHaveText('Disable Dora Disabled?');
  await expect(dialog).toContainText('Their sessions end at once');
  await expect(dialog).toContainText('cannot sign in');
  await fits(page);
  // Cancel changes nothing and gives focus back.
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(disable).toBeFocused();
  await expect(row.getByTestId('user-status')).toHaveText('active');

  await disable.click();
  await dialog.getByTestId('confirm-disable-user').click();
  await expect(dialog).toBeHidden();
  await expect(row.getByTestId('user-status')).toHaveText('disabled');
  await expect(row.getByTestId('user-enable')).toBeVisible();
  await expect(page.getByTestId('toast')).toContainText('Disabled dora@example.com.');
  expect(problems).toEqual([]);
});

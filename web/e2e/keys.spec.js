// API keys in a real browser: create in a dialog, the one-time reveal with
// its copy button, filters that keep the URL bookmarkable, revoke and rotate
// behind confirmations.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn, addMember, memberPassword } from './helpers.js';

test.describe.configure({ mode: 'serial' });

const keyPattern = /^kp_pk_live_[0-9A-Za-z]{36}$/;

test('create a key, see it once, find it in the list', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const problems = watch(page);
  await signIn(page);

  const opener = page.getByTestId('create-key').first();
  await opener.click();
  const dialog = page.getByTestId('new-key-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel('Description')).toBeFocused();
  await expectAccessible(page);

  // A public key without domains: the dialog answers with the message in place.
  await dialog.getByLabel('Description').fill('Checkout widget');
  await dialog.getByRole('radio', { name: /^Public/ }).check();
  await dialog.getByRole('checkbox', { name: /^read/ }).check();
  await dialog.getByRole('button', { name: 'Create key' }).click();
  await expect(page.getByTestId('error-domains')).toContainText('at least one allowed domain');
  await expect(page.getByTestId('new-key-modal').getByLabel('Description')).toHaveValue('Checkout widget');

  // With a domain and a scope it is created and revealed once.
  const form = page.getByTestId('new-key-modal');
  await form.getByLabel('Allowed domains').fill('shop.example.com\n*.example.org');
  await expect(form.getByRole('checkbox', { name: /^read/ })).toBeChecked();
  await form.getByRole('button', { name: 'Create key' }).click();

  const reveal = page.getByTestId('reveal-modal');
  await expect(reveal).toBeVisible();
  await expect(reveal).toContainText('will not be shown again');
  const secret = await reveal.getByTestId('revealed-key').inputValue();
  expect(secret).toMatch(keyPattern);
  await reveal.getByTestId('copy-key').click();
  await expect(reveal.getByTestId('copy-key')).toContainText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await expectAccessible(page);

  // Once the key is copied, Escape closes the dialog and focus returns to
  // where it was.
  await page.keyboard.press('Escape');
  await expect(reveal.getByTestId('reveal-confirm')).toBeHidden();
  await expect(reveal).toBeHidden();
  await expect(opener).toBeFocused();

  // The table behind the dialog has reloaded with the new key.
  const row = page.getByTestId('key-row').filter({ hasText: 'Checkout widget' });
  await expect(row).toBeVisible();
  await expect(row.getByTestId('key-last-used')).toHaveText('Never used');
  await expect(row.getByTestId('key-hint')).toHaveText(`kp_pk_live_…${secret.slice(-4)}`);
  await expect(row).toContainText('shop.example.com');

  // The key never appears again: not after a reload, not on its page.
  await page.reload();
  expect(await page.content()).not.toContain(secret);
  await row.getByRole('link', { name: 'Checkout widget', exact: true }).click();
  await expect(page.getByTestId('key-description')).toHaveText('Checkout widget');
  expect(await page.content()).not.toContain(secret);
  await page.goBack();
  expect(await page.content()).not.toContain(secret);
  await expectAccessible(page);
  expect(problems).toEqual([]);
});

test('filters narrow the list and keep the URL', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  // A second key, through the page without the dialog.
  await page.goto('/orgs/acme/keys/new?product=default');
  await page.getByLabel('Description').fill('Staging CI');
  await page.getByRole('radio', { name: /^Test/ }).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  // No scopes: it says what such a key cannot do before creating it.
  await expect(page.getByTestId('no-scopes-warning')).toContainText('able to call nothing that needs a scope');
  await page.getByRole('button', { name: 'Create key without scopes' }).click();
  await expect(page.getByTestId('revealed-key')).toHaveValue(/^kp_sk_test_/);
  await page.getByRole('link', { name: 'I have copied the key' }).click();

  await expect(page.getByTestId('key-row')).toHaveCount(2);
  await page.getByTestId('filter-q').fill('staging');
  await expect(page).toHaveURL(/q=staging/);
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await expect(page.getByTestId('key-row')).toContainText('Staging CI');

  await page.getByTestId('filter-q').fill('');
  await page.getByTestId('filter-environment').selectOption('live');
  await expect(page).toHaveURL(/environment=live/);
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await expect(page.getByTestId('key-row')).toContainText('Checkout widget');

  // The URL is a bookmark: loading it gives the same rows.
  await page.goto(page.url());
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await expect(page.getByTestId('filter-environment')).toHaveValue('live');
  expect(problems).toEqual([]);
});

test('rotate with 24 hours of grace, then revoke', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  await page.getByRole('link', { name: 'Staging CI', exact: true }).click();
  await page.getByTestId('rotate-key').click();
  const rotate = page.getByTestId('rotate-modal');
  await expect(rotate).toBeVisible();
  await rotate.getByLabel('In 24 hours').check();
  await rotate.getByTestId('confirm-rotate').click();
  const reveal = page.getByTestId('reveal-modal');
  await expect(reveal).toBeVisible();
  await expect(reveal.getByTestId('rotation-note')).toContainText('keeps working until');
  await expect(reveal.getByTestId('revealed-key')).toHaveValue(/^kp_sk_test_/);
  // Not copied: Escape asks first.
  await page.keyboard.press('Escape');
  await expect(reveal.getByTestId('reveal-confirm')).toBeVisible();
  await reveal.getByTestId('reveal-discard').click();
  await expect(reveal).toBeHidden();

  // The old key's page is up to date without a reload: expiring, replaced,
  // no longer rotatable or editable.
  await expect(page.getByTestId('key-status')).toHaveText('expiring');
  await expect(page.getByTestId('key-expiry')).toContainText('expires in');
  await expect(page.getByTestId('successor')).toBeVisible();
  await expect(page.getByTestId('rotate-key')).toHaveCount(0);
  await expect(page.getByTestId('edit-key')).toHaveCount(0);

  await page.getByTestId('revoke-key').click();
  const revoke = page.getByTestId('revoke-modal');
  await expect(revoke).toBeVisible();
  await expect(revoke.getByTestId('confirm-description')).toHaveText('Staging CI');
  await expect(revoke).toContainText('cannot be undone');
  await expectAccessible(page);
  await revoke.getByTestId('confirm-revoke').click();
  await expect(page.getByTestId('key-status')).toHaveText('revoked');
  await expect(page.getByTestId('key-revoked')).toContainText('by Olivia Operator');
  await expect(page.getByRole('status').filter({ hasText: 'Revoked' })).toBeVisible();
  await expect(page.getByTestId('key-description')).toBeFocused();
  await expect(page.getByTestId('rotate-key')).toHaveCount(0);
  await expect(page.getByTestId('revoke-key')).toHaveCount(0);
  expect(problems).toEqual([]);
});

test('disable a key from its row, enable it from its page', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  const row = page.getByTestId('key-row').filter({ hasText: 'Checkout widget' });
  await row.getByRole('link', { name: 'Disable Checkout widget' }).click();
  const dialog = page.getByTestId('disable-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId('confirm-description')).toHaveText('Checkout widget');
  await expect(dialog).toContainText('until you enable it again');
  await expectAccessible(page);
  await dialog.getByTestId('confirm-disable').click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys$/);
  await expect(row.getByTestId('key-status')).toHaveText('disabled');
  await expect(page.getByRole('status').first()).toContainText('Disabled');

  await row.getByRole('link', { name: 'Checkout widget', exact: true }).click();
  await expect(page.getByTestId('key-disabled')).toContainText('key_disabled');
  await page.getByTestId('enable-key').click();
  await expect(page.getByTestId('key-status')).toHaveText('active');
  await expect(page.getByTestId('key-disabled')).toHaveCount(0);
  expect(problems).toEqual([]);
});

test('a member sees the keys but no controls', async ({ page, browser }) => {
  await signIn(page);
  await addMember(page, 'Max Member', 'max@example.com');

  const memberContext = await browser.newContext();
  const member = await memberContext.newPage();
  const problems = watch(member);
  await member.goto('/login');
  await member.getByLabel('Email').fill('max@example.com');
  await member.getByLabel('Password').fill(memberPassword);
  await member.getByRole('button', { name: 'Sign in' }).click();
  await expect(member).toHaveURL(/\/orgs\/acme\/keys/);
  await expect(member.getByTestId('nav-role')).toHaveText('member');
  await expect(member.getByTestId('key-row').first()).toBeVisible();
  await expect(member.getByTestId('create-key')).toHaveCount(0);

  await member.getByRole('link', { name: 'Checkout widget', exact: true }).click();
  await expect(member.getByTestId('key-description')).toHaveText('Checkout widget');
  await expect(member.getByTestId('rotate-key')).toHaveCount(0);
  await expect(member.getByTestId('revoke-key')).toHaveCount(0);
  await expect(member.getByTestId('key-form')).toHaveCount(0);
  await expectAccessible(member);

  // Going around the missing buttons is refused on the server.
  const res = await member.request.get('/orgs/acme/keys/new');
  expect(res.status()).toBe(403);
  expect(problems).toEqual([]);
  await memberContext.close();
});

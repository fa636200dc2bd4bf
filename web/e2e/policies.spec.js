// Key policies in a real browser: an admin sets a maximum key lifetime on
// the settings page, the create dialog refuses a key that would outlive it
// and says so, and a key that stops within 7 days shows in the banner of
// the keys page. The policy is turned off again at the end, as the other
// specs share the organization.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, expectNoSidewaysScroll, signIn } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

test.describe.configure({ mode: 'serial' });

// day is the date, UTC, offset days from today.
function day(offset) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + offset);
  return d.toISOString().slice(0, 10);
}

async function setMaxLifetime(page, days) {
  await page.goto('/orgs/acme/settings');
  const form = page.getByTestId('key-policy-form');
  await form.getByLabel('Maximum key lifetime, in days').fill(days);
  await form.getByTestId('save-key-policies').click();
}

test.afterAll(async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page);
  await setMaxLifetime(page, '');
  await context.close();
});

test('a maximum lifetime refuses longer keys; keys that stop soon are announced', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  // A bad value is refused with its reason.
  await setMaxLifetime(page, '0');
  await expect(page.getByTestId('error-max_key_lifetime_days')).toContainText('from 1 to 3650');
  await expectAccessible(page);

  await setMaxLifetime(page, '30');
  await expect(page).toHaveURL(/\/orgs\/acme\/settings#key-policies$/);
  await expect(page.getByRole('status').filter({ hasText: 'Saved the key policies' })).toBeVisible();
  await expect(page.getByLabel('Maximum key lifetime, in days')).toHaveValue('30');
  await expectAccessible(page);
  await page.setViewportSize({ width: 390, height: 800 });
  await expectNoSidewaysScroll(page);
  await page.setViewportSize({ width: 1280, height: 800 });

  // The create dialog proposes the maximum and refuses a later date.
  await page.goto('/orgs/acme/keys');
  await page.getByTestId('create-key').first().click();
  const dialog = page.getByTestId('new-key-modal');
  await chooseDefaultProduct(dialog);
  await expect(dialog.getByRole('radio', { name: '30 days (the maximum)' })).toBeChecked();
  await expect(dialog.getByRole('radio', { name: 'Never' })).toHaveCount(0);
  await expect(dialog.getByTestId('lifetime-hint')).toContainText('within 30 days');
  await dialog.getByLabel('Description').fill('Policy probe');
  await dialog.getByRole('checkbox', { name: /^read/ }).check();
  await dialog.getByRole('radio', { name: 'Custom date' }).check();
  await dialog.getByLabel('Custom expiry date').fill(day(60));
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const form = page.getByTestId('new-key-modal');
  await expect(form.getByTestId('error-expires_at')).toContainText('must expire within 30 days');
  await expect(form.getByTestId('error-expires_at')).toContainText(day(30));
  await expectAccessible(page);

  // Within 7 days it is created, and the keys page announces it.
  await form.getByLabel('Custom expiry date').fill(day(3));
  await form.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  await expect(reveal).toBeVisible();
  await page.keyboard.press('Escape');
  await reveal.getByTestId('reveal-discard').click();
  await expect(reveal).toBeHidden();
  await page.reload();
  const banner = page.getByTestId('expiry-banner');
  await expect(banner).toBeVisible();
  const soon = banner.getByTestId('expiring-key').filter({ hasText: 'Policy probe' });
  await expect(soon).toContainText('stops in');
  await expectAccessible(page);
  await soon.getByRole('link', { name: 'Policy probe' }).click();
  await expect(page.getByTestId('key-description')).toHaveText('Policy probe');

  // Revoked, it leaves the banner.
  await page.getByTestId('revoke-key').click();
  await page.getByTestId('revoke-modal').getByTestId('confirm-revoke').click();
  await expect(page.getByTestId('key-status')).toHaveText('revoked');
  await page.goto('/orgs/acme/keys');
  await expect(page.getByTestId('expiring-key').filter({ hasText: 'Policy probe' })).toHaveCount(0);

  await setMaxLifetime(page, '');
  await expect(page.getByLabel('Maximum key lifetime, in days')).toHaveValue('');
  expect(problems).toEqual([]);
});

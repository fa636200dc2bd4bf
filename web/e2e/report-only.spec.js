// Report-only restrictions in a real browser: an admin lets a key's IP
// allowlist report only from the edit form, sees it in the Restrictions
// panel with the summary, and enforces it again through the confirmation
// dialog by keyboard alone; "Restrict to what it uses" proposes what the
// key's traffic used and applies it as report-only restrictions.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';

test.describe.configure({ mode: 'serial' });

// createKey makes a private key with the read scope through the page
// without a dialog, and returns its secret; the page is left on its page.
async function createKey(page, description, ips = '') {
  await page.goto('/orgs/acme/keys/new?product=default');
  await page.getByLabel('Description').fill(description);
  await page.getByRole('checkbox', { name: /^read/ }).check();
  if (ips) await page.getByLabel('Allowed IP addresses').fill(ips);
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = await page.getByTestId('revealed-key').inputValue();
  await page.getByRole('link', { name: "Open the key's page" }).click();
  await expect(page.getByTestId('key-description')).toHaveText(description);
  return secret;
}

// restriction is the Restrictions panel's row of name.
function restriction(page, name) {
  return page.locator(`[data-testid="restriction-row"][data-restriction="${name}"]`);
}

test('a restriction goes report only from the edit form and back to enforce by keyboard', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  await createKey(page, 'Report-only partner', '203.0.113.0/24');

  const ips = restriction(page, 'ips');
  await expect(ips.getByTestId('restriction-mode')).toHaveText('Enforced');
  await expect(ips.getByTestId('restriction-setting')).toHaveText('203.0.113.0/24');
  await expect(page.getByTestId('would-refuse-summary')).toHaveCount(0);

  // The edit form's box beside the IP addresses.
  await page.getByTestId('edit-key').click();
  const box = page.getByRole('checkbox', { name: /^Report only for the IP allowlist/ });
  await expect(box).not.toBeChecked();
  await box.check();
  await page.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByText('Saved the changes to Report-only partner.')).toBeVisible();

  await expect(ips.getByTestId('restriction-mode')).toHaveText('Report only');
  await expect(ips.getByTestId('restriction-would')).toHaveText('Would have refused no requests in the last 7 days.');
  await expect(page.getByTestId('would-refuse-summary')).toHaveText('Would have refused no requests in the last 7 days.');
  await expect(restriction(page, 'scopes').getByTestId('restriction-mode')).toHaveText('Enforced');
  await expectAccessible(page);

  // Enforce, by keyboard: the dialog states the count; Escape closes it
  // and focus returns to the button that opened it.
  const enforce = ips.getByTestId('enforce-ips');
  await enforce.focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByTestId('enforce-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId('confirm-would')).toHaveText('Enforcing would have refused no requests in the last 7 days.');
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await expectAccessible(page);
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  await expect(enforce).toBeFocused();
  await expect(ips.getByTestId('restriction-mode')).toHaveText('Report only');

  // Again, and confirm: Tab from Cancel reaches Enforce.
  await page.keyboard.press('Enter');
  await expect(dialog).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(dialog.getByTestId('confirm-enforce')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(dialog).toBeHidden();
  await expect(page.getByTestId('toast').last()).toContainText('The IP allowlist of');
  await expect(ips.getByTestId('restriction-mode')).toHaveText('Enforced');
  await expect(page.getByTestId('would-refuse-summary')).toHaveCount(0);
  // Focus lands on the same row's switch, now offering report only.
  await expect(page.locator('#restriction-switch-ips')).toBeFocused();
  await expect(page.locator('#restriction-switch-ips')).toContainText('Report only');
  // The edit form (closed again) follows the switch.
  await expect(page.locator('input[name="report_only"][value="ips"]')).not.toBeChecked();

  // And back to report only with one click, which needs no confirmation.
  await restriction(page, 'scopes').getByTestId('report-only-scopes').click();
  await expect(restriction(page, 'scopes').getByTestId('restriction-mode')).toHaveText('Report only');
  await page.reload();
  await expect(restriction(page, 'scopes').getByTestId('restriction-mode')).toHaveText('Report only');
  await expect(page.getByTestId('would-refuse-summary')).toBeVisible();
  expect(problems).toEqual([]);
});

test('restrict a key to what it uses, as report-only restrictions ready to enforce', async ({ page }) => {
  test.setTimeout(60_000);
  const problems = watch(page);
  await signIn(page);
  const secret = await createKey(page, 'Suggested partner');
  const keyPage = page.url();

  const suggestions = page.getByTestId('key-suggestions');
  await expect(suggestions.getByTestId('suggestions-empty')).toBeVisible();

  // A service verifies the key for clients at two addresses.
  for (const [ip, n] of [['198.51.100.7', 3], ['198.51.100.8', 2]]) {
    for (let i = 0; i < n; i++) {
      const res = await page.request.post('/v1/verify', { data: { key: secret, scope: 'read', ip } });
      expect((await res.json()).valid).toBe(true);
    }
  }

  // Counts reach the database within a flush (a few seconds).
  await expect(async () => {
    await page.goto(keyPage);
    await expect(suggestions.getByTestId('suggested-ips').getByTestId('suggested-value')).toHaveCount(2, { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  const ipValues = suggestions.getByTestId('suggested-ips').getByTestId('suggested-value');
  await expect(ipValues.nth(0)).toContainText('198.51.100.7');
  await expect(ipValues.nth(0)).toContainText('3');
  await expect(ipValues.nth(1)).toContainText('198.51.100.8');
  await expect(suggestions.getByTestId('suggested-scopes')).toContainText('read');
  // The key's scopes are enforced: restricting never loosens them.
  await expect(suggestions.getByTestId('suggestions-applies')).toHaveText('Applying sets the IP allowlist to these, in report-only mode.');
  await expectAccessible(page);

  await suggestions.getByTestId('apply-suggestions').click();
  await expect(page.getByText('Restricted ').first()).toBeVisible();
  const ips = restriction(page, 'ips');
  await expect(ips.getByTestId('restriction-mode')).toHaveText('Report only');
  await expect(ips.getByTestId('restriction-setting')).toHaveText('198.51.100.7/32, 198.51.100.8/32');
  await expect(restriction(page, 'scopes').getByTestId('restriction-mode')).toHaveText('Enforced');
  await expect(ips.getByTestId('enforce-ips')).toBeVisible();
  await expect(page.getByTestId('would-refuse-summary')).toBeVisible();

  // Ready to enforce.
  await ips.getByTestId('enforce-ips').click();
  const dialog = page.getByTestId('enforce-modal');
  await expect(dialog.getByTestId('confirm-would')).toContainText('Enforcing would have refused');
  await dialog.getByTestId('confirm-enforce').click();
  await expect(dialog).toBeHidden();
  await expect(ips.getByTestId('restriction-mode')).toHaveText('Enforced');
  expect(problems).toEqual([]);
});

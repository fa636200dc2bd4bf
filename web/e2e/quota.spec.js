// Quotas in a real browser: an admin gives a key a credits quota in its
// edit form (a bad amount is refused beside the field), sees what is left
// on the key's page and in its row as requests spend it, adds credits in
// a dialog by keyboard, and sets the organization's quota on the settings
// page. The key page with a quota and the settings page pass axe without
// scrolling sideways at 1280 and 390 px, light and dark. The organization
// quota is removed at the end, as the other specs share the organization.
import { test, expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { watch, expectAccessible, signIn } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

test.describe.configure({ mode: 'serial' });

const description = 'Quota metered';
const seen = {};

async function setOrgQuota(page, kind, fill) {
  await page.goto('/orgs/acme/settings');
  const form = page.getByTestId('org-quota-form');
  await form.getByRole('radio', { name: kind, exact: true }).check();
  if (fill) await fill(form);
  await form.getByTestId('save-org-quota').click();
}

test.afterAll(async ({ browser }) => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page);
  await setOrgQuota(page, 'None');
  await expect(page.getByTestId('org-quota-standing')).toHaveCount(0);
  await context.close();
});

test('a credits quota: set in the edit form, shown on the key page and its row, topped up by keyboard', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  await page.getByTestId('create-key').first().click();
  const dialog = page.getByTestId('new-key-modal');
  await chooseDefaultProduct(dialog);
  // Without a quota the amount is hidden; the refill is for credits only.
  const fields = dialog.getByTestId('quota-fields');
  await expect(fields.getByRole('radio', { name: 'None', exact: true })).toBeChecked();
  await expect(fields.getByLabel('Amount', { exact: true })).toBeHidden();
  await fields.getByRole('radio', { name: 'Requests per day' }).check();
  await expect(fields.getByLabel('Amount', { exact: true })).toBeVisible();
  await expect(fields.getByLabel('Refill (credits)')).toBeHidden();
  await fields.getByRole('radio', { name: 'None', exact: true }).check();
  await dialog.getByLabel('Description').fill(description);
  await dialog.getByRole('checkbox', { name: /^read/ }).check();
  await dialog.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  seen.secret = await reveal.getByTestId('revealed-key').inputValue();
  await reveal.getByTestId('download-env').click();
  await page.keyboard.press('Escape');
  await expect(reveal).toBeHidden();

  await page.getByRole('link', { name: description, exact: true }).click();
  await expect(page.getByTestId('key-description')).toHaveText(description);
  seen.url = new URL(page.url()).pathname;
  await expect(page.getByTestId('key-quota')).toHaveCount(0);

  // A bad amount is refused beside the field, with what was typed kept.
  await page.getByTestId('edit-key').click();
  let form = page.getByTestId('key-form');
  await form.getByRole('radio', { name: 'Credits', exact: true }).check();
  await expect(form.getByLabel('Refill (credits)')).toBeVisible();
  await form.getByLabel('Amount', { exact: true }).fill('0');
  await form.getByLabel('Refill (credits)').selectOption({ label: 'Every day' });
  await form.getByRole('button', { name: 'Save changes' }).click();
  form = page.getByTestId('key-form');
  await expect(form.getByTestId('error-quota_limit')).toHaveText('Enter a whole number from 1 to 1,000,000,000,000.');
  await expect(form.getByLabel('Amount', { exact: true })).toHaveValue('0');
  await expect(form.getByRole('radio', { name: 'Credits', exact: true })).toBeChecked();
  await expect(form.getByLabel('Refill (credits)')).toHaveValue('1d');
  await expectAccessible(page);

  await form.getByLabel('Amount', { exact: true }).fill('5000');
  await form.getByRole('button', { name: 'Save changes' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Saved the changes' })).toBeVisible();
  const section = page.getByTestId('key-quota');
  await expect(section.getByTestId('quota-text')).toHaveText('5,000 credits left of 5,000');
  const bar = section.getByRole('progressbar', { name: '5,000 credits left of 5,000' });
  await expect(bar).toHaveAttribute('value', '5000');
  await expect(bar).toHaveAttribute('max', '5000');
  await expect(section.getByTestId('quota-reset')).toContainText(/^refills to 5,000 on \d+ \w+ at \d\d:\d\d UTC, in 2[34] hours\s*$/);
  await expect(section).toContainText('Updated every few seconds.');

  // Requests spend it; the page shows it once the counts are written.
  for (let i = 0; i < 3; i++) {
    const res = await page.request.post('/v1/verify', { data: { key: seen.secret, scope: 'read' } });
    expect((await res.json()).valid).toBe(true);
  }
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('key-quota').getByTestId('quota-text')).toHaveText('4,997 credits left of 5,000', { timeout: 1000 });
  }).toPass({ timeout: 20_000 });

  // The row in the list, with a compact bar.
  await page.goto('/orgs/acme/keys');
  const row = page.getByTestId('key-row').filter({ hasText: description });
  await expect(row.getByTestId('quota-text')).toHaveText('Quota: 4,997 of 5,000 credits left');
  await expect(row.getByRole('progressbar')).toHaveAttribute('value', '4997');
  await expect(page.getByTestId('key-row').filter({ hasNotText: description }).first().getByTestId('quota-meter')).toHaveCount(0);

  // Add credits by keyboard: Escape closes and gives focus back; a bad
  // amount is answered in the dialog; a good one updates the section.
  await page.goto(seen.url);
  const opener = page.getByTestId('add-credits');
  await opener.focus();
  await page.keyboard.press('Enter');
  const credits = page.getByTestId('credits-modal');
  await expect(credits).toBeVisible();
  await expect(credits.getByLabel('Credits to add')).toBeFocused();
  await expect(credits.getByTestId('credits-standing')).toHaveText('4,997 credits left of 5,000');
  await page.keyboard.press('Escape');
  await expect(credits).toBeHidden();
  await expect(opener).toBeFocused();

  await page.keyboard.press('Enter');
  await expect(credits.getByLabel('Credits to add')).toBeFocused();
  await page.keyboard.type('0');
  await page.keyboard.press('Enter');
  await expect(credits.getByTestId('error-amount')).toHaveText('Enter a whole number of credits from 1 to 1,000,000,000,000.');
  await expectAccessible(page);
  await credits.getByLabel('Credits to add').fill('1000');
  await page.keyboard.press('Enter');
  await expect(credits).toBeHidden();
  await expect(page.getByTestId('toast')).toContainText(/Added 1,000 credits to .+ \(Quota metered\)\./);
  await expect(page.getByTestId('key-quota').getByTestId('quota-text')).toHaveText('5,997 credits left of 6,000');
  await expect(page.getByTestId('quota-reset')).toContainText('includes 1,000 credits added');
  await expect(page.getByTestId('add-credits')).toBeFocused();
  expect(problems).toEqual([]);
});

test('the organization quota: set on the settings page, topped up, shown on key pages', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  // A bad amount first, then a report-only credits quota.
  await setOrgQuota(page, 'Credits', async (form) => {
    await form.getByLabel('Amount', { exact: true }).fill('-3');
  });
  const form = page.getByTestId('org-quota-form');
  await expect(form.getByTestId('error-quota_limit')).toHaveText('Enter a whole number from 1 to 1,000,000,000,000.');
  await expect(form.getByLabel('Amount', { exact: true })).toHaveValue('-3');
  await expectAccessible(page);

  await form.getByLabel('Amount', { exact: true }).fill('100000');
  await form.getByLabel('Refill (credits)').selectOption({ label: 'Every 30 days' });
  await form.getByLabel('Report only').check();
  await form.getByTestId('save-org-quota').click();
  await expect(page).toHaveURL(/\/orgs\/acme\/settings#org-quota$/);
  await expect(page.getByRole('status').filter({ hasText: 'The quota of Acme is now 100,000 credits' })).toBeVisible();
  const standing = page.getByTestId('org-quota-standing');
  await expect(standing.getByTestId('quota-text')).toHaveText('100,000 credits left of 100,000');
  await expect(standing.getByTestId('quota-report-only')).toBeVisible();
  await expect(page.getByTestId('org-quota-form').getByLabel('Report only')).toBeChecked();

  const opener = standing.getByTestId('add-org-credits');
  await opener.focus();
  await page.keyboard.press('Enter');
  const credits = page.getByTestId('credits-modal');
  await expect(credits.getByLabel('Credits to add')).toBeFocused();
  await page.keyboard.type('5000');
  await page.keyboard.press('Enter');
  await expect(credits).toBeHidden();
  await expect(page.getByTestId('org-quota-standing').getByTestId('quota-text')).toHaveText('105,000 credits left of 105,000');
  await expect(page.getByTestId('toast')).toHaveText('Added 5,000 credits to Acme.');
  await expect(page.getByTestId('add-org-credits')).toBeFocused();

  // Every key's page shows it, smaller, beside the key's own.
  await page.goto(seen.url);
  const org = page.getByTestId('key-org-quota');
  await expect(org).toContainText('Organization quota, shared by every key of Acme');
  await expect(org.getByTestId('quota-text')).toHaveText(/^\d{1,3}(,\d{3})* credits left of 105,000\s*$/);
  expect(problems).toEqual([]);
});

for (const width of [1280, 390]) {
  for (const theme of ['light', 'dark']) {
    test(`the key page with a quota and the settings page pass axe at ${width} px, ${theme}`, async ({ browser, baseURL }) => {
      const context = await browser.newContext({ baseURL, viewport: { width, height: 900 }, colorScheme: theme });
      await context.addCookies([{ name: 'kp_theme', value: theme, url: baseURL }]);
      const page = await context.newPage();
      const problems = watch(page);
      await signIn(page);
      for (const path of [seen.url, '/orgs/acme/settings', '/orgs/acme/keys']) {
        await page.goto(path);
        if (theme === 'dark') await expect(page.locator('html')).toHaveClass(/\bdark\b/);
        else await expect(page.locator('html')).not.toHaveClass(/\bdark\b/);
        const results = await new AxeBuilder({ page }).setLegacyMode(true).options({ resultTypes: ['violations'] }).analyze();
        const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
        expect.soft(serious.map((v) => `${path}: ${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`)).toEqual([]);
        const { scrollWidth, clientWidth } = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth,
          clientWidth: document.documentElement.clientWidth,
        }));
        expect.soft(scrollWidth, `${path}: ${scrollWidth} px wide in a ${clientWidth} px viewport`).toBeLessThanOrEqual(clientWidth);
      }
      // The dialog too.
      await page.goto(seen.url);
      await page.getByTestId('add-credits').click();
      await expect(page.getByTestId('credits-modal')).toBeVisible();
      await expectAccessible(page);
      expect(problems).toEqual([]);
      await context.close();
    });
  }
}

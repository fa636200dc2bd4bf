// The keys and usage screens: the count that follows a create, search by
// the part of a key the dashboard shows, and every screen accessible on a
// phone as on a desktop.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

test.describe.configure({ mode: 'serial' });

test('the count follows a create; the visible ending finds the key', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  // The default product's count: alone, or first of the products'.
  const count = page.getByTestId('keys-usage');
  const before = Number((await count.textContent()).match(/(\d+) of 100 active keys/)[1]);

  await page.getByTestId('create-key').first().click();
  const form = page.getByTestId('new-key-modal');
  await chooseDefaultProduct(form);
  await form.getByLabel('Description').fill('Found by its ending');
  await form.getByRole('checkbox', { name: /^read/ }).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  const secret = await reveal.getByTestId('revealed-key').inputValue();
  // Behind the dialog, without a reload.
  await expect(count).toContainText(new RegExp(`(^|: )${before + 1} of 100 active keys`));
  await reveal.getByTestId('download-env').click();
  await page.keyboard.press('Escape');
  await expect(reveal).toBeHidden();

  // Paste the visible ending: the list narrows to that key.
  await page.getByTestId('filter-q').fill(secret.slice(-4));
  await expect(page).toHaveURL(new RegExp(`q=${secret.slice(-4)}`));
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await expect(page.getByTestId('key-row')).toContainText('Found by its ending');
  expect(problems).toEqual([]);
});

for (const width of [1280, 390]) {
  test(`keys, key and usage pages pass axe at ${width} px`, async ({ page }) => {
    await page.setViewportSize({ width, height: 900 });
    const problems = watch(page);
    await signIn(page);
    await page.goto('/orgs/acme/keys');
    await expectAccessible(page);
    await page.getByRole('link', { name: 'Found by its ending', exact: true }).click();
    await expect(page.getByTestId('key-description')).toHaveText('Found by its ending');
    await page.getByTestId('edit-key').click();
    await expect(page.getByTestId('key-form')).toBeVisible();
    await expectAccessible(page);
    await page.goto('/orgs/acme/usage');
    await expectAccessible(page);
    const sideways = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
    expect(sideways).toBe(false);
    expect(problems).toEqual([]);
  });
}

// The one-time reveal cannot be lost by accident: Escape, the backdrop and
// "Done" ask until the key was copied or downloaded; the question is
// answered from the keyboard.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

test.describe.configure({ mode: 'serial' });

async function createInDialog(page, description) {
  await page.goto('/orgs/acme/keys');
  await page.getByTestId('create-key').first().click();
  const form = page.getByTestId('new-key-modal');
  await chooseDefaultProduct(form);
  await form.getByLabel('Description').fill(description);
  await form.getByRole('checkbox', { name: /^read/ }).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  await expect(reveal).toBeVisible();
  return reveal;
}

test('Escape, the backdrop and Done ask until the key is copied', async ({ page, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const problems = watch(page);
  await signIn(page);
  const reveal = await createInDialog(page, 'Guarded reveal');
  const secret = await reveal.getByTestId('revealed-key').inputValue();
  const confirm = reveal.getByTestId('reveal-confirm');

  // Ready-to-paste requests in both headers.
  await expect(reveal.getByTestId('curl-x-api-key')).toContainText(`X-Api-Key: ${secret}`);
  await expect(reveal.getByTestId('curl-bearer')).toContainText(`Authorization: Bearer ${secret}`);

  // Escape asks; "Keep it open" keeps it, from the keyboard.
  await page.keyboard.press('Escape');
  await expect(confirm).toBeVisible();
  await expect(confirm).toContainText('You have not copied the key. Close anyway?');
  await expect(reveal.getByTestId('reveal-keep')).toBeFocused();
  await expectAccessible(page);
  await page.keyboard.press('Enter');
  await expect(confirm).toBeHidden();
  await expect(reveal).toBeVisible();

  // Escape while asking means "no": the key stays.
  await page.keyboard.press('Escape');
  await expect(confirm).toBeVisible();
  await page.keyboard.press('Escape');
  await expect(confirm).toBeHidden();
  await expect(reveal).toBeVisible();

  // The backdrop and Done ask too.
  await page.mouse.click(5, 5);
  await expect(confirm).toBeVisible();
  await reveal.getByTestId('reveal-keep').click();
  await reveal.getByTestId('reveal-done').click();
  await expect(confirm).toBeVisible();
  await reveal.getByTestId('reveal-keep').click();

  // Once copied, Escape closes at once.
  await reveal.getByTestId('copy-key').click();
  await expect(reveal.getByTestId('copy-key')).toContainText('Copied');
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);
  await page.keyboard.press('Escape');
  await expect(reveal).toBeHidden();
  expect(problems).toEqual([]);
});

test('closing anyway discards; a .env download counts as saved', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  let reveal = await createInDialog(page, 'Discarded reveal');
  await reveal.getByTestId('reveal-done').click();
  await reveal.getByTestId('reveal-discard').click();
  await expect(reveal).toBeHidden();

  reveal = await createInDialog(page, 'Downloaded reveal');
  const secret = await reveal.getByTestId('revealed-key').inputValue();
  const requests = [];
  page.on('request', (req) => requests.push(req.url()));
  const downloading = page.waitForEvent('download');
  await reveal.getByTestId('download-env').click();
  const download = await downloading;
  const path = await download.path();
  const fs = await import('node:fs');
  expect(fs.readFileSync(path, 'utf8')).toBe(`KEYPLANE_API_KEY=${secret}\n`);
  expect(requests.filter((u) => u.includes(secret))).toEqual([]);
  await page.keyboard.press('Escape');
  await expect(reveal).toBeHidden();
  expect(problems).toEqual([]);
});

// Products in a real browser: an operator adds a second product, and the
// create dialog then asks for the product first and makes a key in its
// format, with its scopes.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';

test('a second product: the create dialog asks for the product first', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);

  await page.goto('/admin/products');
  const create = page.getByTestId('create-product-form');
  await create.getByLabel('Slug', { exact: true }).fill('sms');
  await create.getByLabel('Name', { exact: true }).fill('SMS API');
  await create.getByLabel('Key format').fill('sms_{env}_');
  await create.getByLabel('Scopes', { exact: true }).fill('sms:send=Send SMS');
  await create.getByLabel('Private keys only (server to server)').check();
  await create.getByRole('button', { name: 'Create product' }).click();
  await expect(page.getByRole('status').first()).toContainText('sms_live_');

  await page.goto('/orgs/acme/keys');
  await page.getByTestId('create-key').first().click();
  const dialog = page.getByTestId('new-key-modal');
  await expect(dialog.getByTestId('product-chooser')).toBeVisible();
  await expectAccessible(page);
  await dialog.getByLabel(/SMS API/).check();
  await dialog.getByTestId('choose-product').click();

  const form = page.getByTestId('new-key-modal');
  await expect(form.getByTestId('form-product')).toContainText('SMS API');
  await expect(form.getByRole('radio', { name: /^Public/ })).toHaveCount(0);
  await form.getByLabel('Description').fill('OTP sender');
  await form.getByRole('checkbox', { name: /^sms:send/ }).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  await expect(reveal).toBeVisible();
  expect(await reveal.getByTestId('revealed-key').inputValue()).toMatch(/^sms_live_[0-9A-Za-z]{36}$/);
  await page.keyboard.press('Escape');

  await page.goto('/orgs/acme/keys?product=sms');
  await expect(page.getByTestId('key-row')).toHaveCount(1);
  await expect(page.getByTestId('key-product')).toHaveText('SMS API');
  expect(problems).toEqual([]);
});

// Offboarding in a real browser: an admin removes a colleague who created
// a key, rotates that key in the same step and sees the new key once, in a
// dialog that asks before it is closed; without JavaScript the same step
// is a page.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, expectNoSidewaysScroll, signIn, addMember, memberPassword } from './helpers.js';
import { chooseDefaultProduct } from './keys-helpers.js';

// createKeyAs signs email in, in a browser of their own, and creates a key
// described desc; it returns the key's secret.
async function createKeyAs(browser, email, desc) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(memberPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys/);
  await page.getByTestId('create-key').first().click();
  const form = page.getByTestId('new-key-modal');
  await chooseDefaultProduct(form);
  await form.getByLabel('Description').fill(desc);
  await form.getByRole('checkbox', { name: /^read/ }).check();
  await form.getByRole('button', { name: 'Create key' }).click();
  const reveal = page.getByTestId('reveal-modal');
  await expect(reveal).toBeVisible();
  const secret = await reveal.getByTestId('revealed-key').inputValue();
  return { context, page, secret };
}

test('remove a member who created a key, rotate it in the same step, see the new key once', async ({ page, browser, context }) => {
  await context.grantPermissions(['clipboard-read', 'clipboard-write']);
  const problems = watch(page);
  await signIn(page);
  await addMember(page, 'Kim Keymaker', 'kim@example.com', 'admin');
  const kim = await createKeyAs(browser, 'kim@example.com', 'Kim deploy key');

  await page.goto('/orgs/acme/members');
  const row = page.getByTestId('member-row').filter({ hasText: 'kim@example.com' });
  await row.getByRole('link', { name: 'Remove kim@example.com' }).click();
  const dialog = page.getByTestId('remove-modal');
  await expect(dialog).toBeVisible();
  const keys = dialog.getByTestId('offboard-key');
  await expect(keys).toHaveCount(1);
  await expect(keys).toContainText('Kim deploy key');
  await expect(dialog.getByRole('checkbox', { name: /Rotate now: Kim deploy key/ })).toBeChecked();
  await expect(dialog.getByRole('radio', { name: 'In 24 hours' })).toBeChecked();
  await expectAccessible(page);

  await dialog.getByTestId('confirm-remove').click();
  const reveal = page.getByTestId('offboard-modal');
  await expect(reveal).toBeVisible();
  await expect(reveal).toContainText('kim@example.com no longer has access to Acme');
  await expect(reveal.getByTestId('offboard-failed')).toHaveCount(0);
  const secret = await reveal.getByTestId('revealed-key').inputValue();
  expect(secret).toMatch(/^[a-z0-9]+_sk_live_[0-9A-Za-z]{36}$/);
  expect(secret).not.toBe(kim.secret);
  await expect(reveal.getByTestId('offboard-env')).toHaveValue(`KEYPLANE_API_KEY_KIM_DEPLOY_KEY=${secret}\n`);
  await expect(reveal.getByTestId('rotation-note')).toContainText('keeps working until');
  // The list behind it no longer holds Kim.
  await expect(row).toHaveCount(0);
  await expectAccessible(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await expectNoSidewaysScroll(page);
  await expectAccessible(page);
  await page.setViewportSize({ width: 1280, height: 800 });

  // The guard: Escape asks until the keys are copied.
  const confirm = reveal.getByTestId('reveal-confirm');
  await page.keyboard.press('Escape');
  await expect(confirm).toBeVisible();
  await expect(reveal.getByTestId('reveal-keep')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(confirm).toBeHidden();
  await reveal.getByTestId('copy-env').click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(`KEYPLANE_API_KEY_KIM_DEPLOY_KEY=${secret}\n`);
  await page.keyboard.press('Escape');
  await expect(reveal).toBeHidden();

  // Kim's next request is refused; the old key is in its grace period.
  const kimNext = await kim.page.goto('/orgs/acme/keys');
  expect(kimNext.status()).toBe(404);
  await page.goto('/orgs/acme/keys');
  const oldRow = page.getByTestId('key-row').filter({ hasText: 'Kim deploy key' }).filter({ hasText: 'expiring' });
  await expect(oldRow).toHaveCount(1);
  expect(problems).toEqual([]);
  await kim.context.close();
});

test('the step without JavaScript: a page that says when there is nothing to rotate, and a page of new keys', async ({ browser }) => {
  const admin = await browser.newContext();
  const setupPage = await admin.newPage();
  await signIn(setupPage);
  await addMember(setupPage, 'Lee Leaver', 'lee@example.com', 'admin');
  await addMember(setupPage, 'Noor Nokeys', 'noor@example.com', 'member');
  await admin.close();
  const lee = await createKeyAs(browser, 'lee@example.com', 'Lee backend');

  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await signIn(page);
  await page.goto('/orgs/acme/members');
  await page.getByTestId('member-row').filter({ hasText: 'noor@example.com' }).getByRole('link', { name: 'Remove noor@example.com' }).click();
  await expect(page.getByTestId('offboard-none')).toContainText('created or rotated no active key');
  await page.getByRole('link', { name: 'Cancel' }).click();

  await page.getByTestId('member-row').filter({ hasText: 'lee@example.com' }).getByRole('link', { name: 'Remove lee@example.com' }).click();
  await expect(page.getByRole('checkbox', { name: /Rotate now: Lee backend/ })).toBeChecked();
  await page.getByRole('radio', { name: 'Now' }).check();
  await page.getByTestId('confirm-remove').click();
  await expect(page.getByRole('heading', { name: 'Removed lee@example.com', level: 1 })).toBeVisible();
  const secret = await page.getByTestId('revealed-key').inputValue();
  expect(secret).not.toBe(lee.secret);
  await expect(page.getByTestId('rotation-note')).toContainText('stops working now');
  // A reload posts the form again: the member is gone, no key is shown.
  const again = await page.reload();
  expect(again.status()).toBe(404);
  await expect(page.getByTestId('revealed-key')).toHaveCount(0);
  await page.goto('/orgs/acme/members');
  await expect(page.getByTestId('member-row').filter({ hasText: 'lee@example.com' })).toHaveCount(0);
  await context.close();
  await lee.context.close();
});

test('the page of new keys is accessible and fits a phone', async ({ page, browser }) => {
  const problems = watch(page);
  await signIn(page);
  await addMember(page, 'Pat Phone', 'pat@example.com', 'admin');
  const pat = await createKeyAs(browser, 'pat@example.com', 'Pat mobile backend with a long description');
  await page.goto('/orgs/acme/members');
  // The remove page itself (the step without JavaScript), then its answer.
  const link = page.getByTestId('member-row').filter({ hasText: 'pat@example.com' }).getByRole('link', { name: 'Remove pat@example.com' });
  await page.goto(await link.getAttribute('href'));
  await expect(page.getByRole('heading', { level: 1 })).toHaveText('Remove Pat Phone from Acme?');
  await expectAccessible(page);
  await page.getByTestId('confirm-remove').click();
  await expect(page.getByRole('heading', { name: 'Removed pat@example.com', level: 1 })).toBeVisible();
  await expect(page.getByTestId('revealed-key')).toHaveCount(1);
  await expectAccessible(page);
  await page.setViewportSize({ width: 390, height: 844 });
  await expectNoSidewaysScroll(page);
  await expectAccessible(page);
  expect(problems).toEqual([]);
  await pat.context.close();
});

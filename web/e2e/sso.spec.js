// Single sign-on in a real browser, through the mock provider the config
// starts (cmd/mockidp, which signs in sam@example.com at once): the
// operator invites Sam, who accepts with the provider and lands in the
// organization signed in, without a password; then Sam signs in again with
// the button on the login page. The tests run in order: the second needs
// the account the first made.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn } from './helpers.js';

const provider = 'Test IdP';
const sam = 'sam@example.com';

test('accept an invitation with SSO', async ({ page, browser }) => {
  const problems = watch(page);
  await signIn(page);
  await page.goto('/orgs/acme/members');
  const invite = page.getByTestId('invite-form');
  await invite.getByLabel('Email').fill(sam);
  await invite.getByLabel('Role').selectOption('member');
  await invite.getByTestId('invite-submit').click();
  const link = await page.getByTestId('invite-link').inputValue();
  expect(problems).toEqual([]);

  // Sam, in a browser of their own.
  const theirs = await browser.newContext();
  const samPage = await theirs.newPage();
  const samProblems = watch(samPage);
  await samPage.goto(new URL(link).pathname);
  const accept = samPage.getByRole('link', { name: `Accept with ${provider}` });
  await expect(accept).toBeVisible();
  await accept.click();
  await expect(samPage).toHaveURL(/\/orgs\/acme\/keys$/);
  await expect(samPage.getByTestId('nav-role')).toHaveText('member');

  // The account page shows the linked identity, and no password form.
  await samPage.goto('/account');
  await expect(samPage.getByTestId('identity-email')).toHaveText(sam);
  await expect(samPage.getByTestId('no-password')).toContainText(`You sign in with ${provider}`);
  await expect(samPage.getByTestId('password-form')).toHaveCount(0);

  await samPage.getByRole('button', { name: 'Log out' }).click();
  await expect(samPage).toHaveURL(/\/login$/);
  expect(samProblems).toEqual([]);
  await theirs.close();
});

// Runs after the test above, which made Sam's account.
test('sign in with the button on the login page', async ({ page }) => {
  const problems = watch(page);
  await page.goto('/login');
  await expectAccessible(page);
  await page.getByRole('link', { name: `Sign in with ${provider}` }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys$/);
  await expect(page.getByTestId('nav-role')).toHaveText('member');
  await page.goto('/account');
  await expect(page.getByTestId('account-email')).toContainText(sam);
  await expect(page.getByTestId('identity-row')).toHaveCount(1);
  await expectAccessible(page);
  expect(problems).toEqual([]);
});

test('a callback without its flow is refused with a way back', async ({ page }) => {
  await page.goto('/login/sso/callback?state=forged&code=forged');
  await expect(page.getByTestId('sso-error')).toBeVisible();
  await expect(page.getByTestId('sso-error-message')).toContainText('another browser');
  await page.getByTestId('back-to-sign-in').click();
  await expect(page).toHaveURL(/\/login$/);
});

// The first walk through Keyplane in a real browser: first-run setup with the
// token, logout, login, the organization's home, and an htmx form whose POST
// must carry the CSRF token in a header.
import { test, expect } from '@playwright/test';
import { setupToken, operator, watch, expectAccessible } from './helpers.js';

test.describe.configure({ mode: 'serial' });

test('setup, logout, login and the organization home', async ({ page }) => {
  const problems = watch(page);

  await page.goto('/');
  await expect(page).toHaveURL(/\/setup$/);
  await expectAccessible(page);

  // A wrong token creates nothing and says why beside the field.
  await page.getByLabel('Setup token').fill('not-the-token-at-all');
  await page.getByLabel('Your name').fill(operator.name);
  await page.getByLabel('Email').fill(operator.email);
  await page.getByLabel('Password').fill(operator.password);
  await page.getByLabel('Organization name').fill('Acme');
  await page.getByLabel('Slug').fill('acme');
  await page.getByRole('button', { name: 'Create and sign in' }).click();
  await expect(page.getByTestId('error-token')).toBeVisible();
  await expect(page.getByLabel('Email')).toHaveValue(operator.email);

  await page.getByLabel('Setup token').fill(setupToken);
  await page.getByLabel('Password').fill(operator.password);
  await page.getByRole('button', { name: 'Create and sign in' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys$/);
  await expect(page.getByText('No API keys yet')).toBeVisible();
  await expect(page.getByTestId('nav-role')).toHaveText('admin');
  await expectAccessible(page);

  // Setup is gone once a user exists.
  const again = await page.request.get('/setup');
  expect(again.status()).toBe(404);

  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  await expectAccessible(page);

  // The org's pages now lead to the login form.
  await page.goto('/orgs/acme/keys');
  await expect(page).toHaveURL(/\/login\?next=%2Forgs%2Facme%2Fkeys$/);

  await page.getByLabel('Email').fill(operator.email);
  await page.getByLabel('Password').fill('wrong-password-123');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByTestId('form-error')).toHaveText('Invalid email or password.');

  await page.getByLabel('Password').fill(operator.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys$/);
  await expect(page.getByTestId('org-name')).toHaveText('Acme');

  // A filter pushes its URL into the history; htmx keeps no snapshot of the
  // page in the browser's storage, and going back loads the page afresh.
  await page.getByLabel('Search descriptions').fill('billing');
  await expect(page).toHaveURL(/[?&]q=billing/);
  await page.goBack();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys$/);
  await expect(page.getByLabel('Search descriptions')).toHaveValue('');
  expect(await page.evaluate(() => sessionStorage.getItem('htmx-history-cache'))).toBeNull();

  // Signing out clears whatever the site stored in this browser.
  await page.evaluate(() => { localStorage.setItem('kp-e2e', 'x'); sessionStorage.setItem('kp-e2e', 'x'); });
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login$/);
  expect(await page.evaluate(() => [localStorage.getItem('kp-e2e'), sessionStorage.getItem('kp-e2e')])).toEqual([null, null]);
  expect(problems).toEqual([]);
});

test('an htmx form sends the CSRF token in a header', async ({ page }) => {
  const problems = watch(page);
  await page.goto('/login');
  await page.getByLabel('Email').fill(operator.email);
  await page.getByLabel('Password').fill(operator.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys$/);

  await page.getByRole('link', { name: 'Users' }).click();
  await expect(page).toHaveURL(/\/admin\/users$/);
  await expectAccessible(page);

  const token = await page.locator('form[data-testid="create-user-form"] input[name="_csrf"]').inputValue();
  expect(token.length).toBeGreaterThan(20);

  // An invalid user: htmx posts, the server answers 422 with the form and
  // its messages, and htmx swaps it in without a page load.
  const form = page.getByTestId('create-user-form');
  await form.getByLabel('Name').fill('Mia Member');
  await form.getByLabel('Email').fill('mia@example.com');
  await form.getByLabel('Password').fill('short');
  const [request] = await Promise.all([
    page.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith('/admin/users')),
    form.getByRole('button', { name: 'Create user' }).click(),
  ]);
  expect(request.headers()['hx-request']).toBe('true');
  expect(request.headers()['x-csrf-token']).toBe(token);
  await expect(page.getByTestId('error-password')).toContainText('at least 12 characters');
  await expect(page.getByTestId('create-user-form').getByLabel('Email')).toHaveValue('mia@example.com');

  // Corrected, the same form creates the user.
  await page.getByTestId('create-user-form').getByLabel('Password').fill('a-long-enough-password');
  await page.getByTestId('create-user-form').getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('users-table')).toContainText('mia@example.com');
  expect(problems).toEqual([]);
});

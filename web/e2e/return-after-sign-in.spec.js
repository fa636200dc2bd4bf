// Deep links in a real browser: a signed-out visitor to a key's page, or
// an existing user to an invitation, signs in and lands where they were
// going. (Named to run after foundation.spec.js, which sets the instance
// up.)
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn, operator, memberPassword } from './helpers.js';

test('a signed-out visitor to a key\'s page lands on it after signing in', async ({ page, browser }) => {
  const problems = watch(page);
  await signIn(page);
  await page.goto('/orgs/acme/keys/new?product=default');
  await page.getByLabel('Description').fill('Deep link target');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByRole('button', { name: 'Create key without scopes' }).click();
  await page.getByRole('link', { name: 'Open the key\'s page' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys\/[0-9a-f-]{36}$/);
  const keyPath = new URL(page.url()).pathname + '?period=7d';

  // Another browser, signed out, follows a link to the key's 7-day usage.
  const theirs = await browser.newContext();
  const visitor = await theirs.newPage();
  const visitorProblems = watch(visitor);
  await visitor.goto(keyPath);
  await expect(visitor).toHaveURL(/\/login\?next=/);
  expect(new URL(visitor.url()).searchParams.get('next')).toBe(keyPath);
  await expectAccessible(visitor);
  await visitor.getByLabel('Email').fill(operator.email);
  await visitor.getByLabel('Password').fill(operator.password);
  await visitor.getByRole('button', { name: 'Sign in' }).click();
  await expect(visitor).toHaveURL(new RegExp(`${keyPath.replace(/[?]/g, '\\?')}$`));
  await expect(visitor.getByRole('heading', { name: 'Deep link target' })).toBeVisible();
  await expect(visitor.getByTestId('usage-periods').locator('[aria-current="page"]')).toHaveText('7 days');

  // A return path to another site is ignored.
  await visitor.getByRole('button', { name: 'Log out' }).click();
  await visitor.goto('/login?next=' + encodeURIComponent('//example.com/'));
  await visitor.getByLabel('Email').fill(operator.email);
  await visitor.getByLabel('Password').fill(operator.password);
  await visitor.getByRole('button', { name: 'Sign in' }).click();
  await expect(visitor).toHaveURL(/^http:\/\/127\.0\.0\.1:\d+\/orgs\/acme\/keys/);

  expect(visitorProblems).toEqual([]);
  expect(problems).toEqual([]);
  await theirs.close();
});

test('an existing user opens an invitation signed out, signs in and accepts it', async ({ page, browser }) => {
  const problems = watch(page);
  await signIn(page);

  // Ivy has an account, in no organization yet.
  await page.goto('/admin/users');
  const create = page.getByTestId('create-user-form');
  await create.getByLabel('Name').fill('Ivy Invitee');
  await create.getByLabel('Email').fill('ivy@example.com');
  await create.getByLabel('Password').fill(memberPassword);
  await create.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('users-table')).toContainText('ivy@example.com');

  await page.goto('/orgs/acme/members');
  const invite = page.getByTestId('invite-form');
  await invite.getByLabel('Email').fill('ivy@example.com');
  await invite.getByLabel('Role').selectOption('member');
  await invite.getByTestId('invite-submit').click();
  const invitePath = new URL(await page.getByTestId('invite-link').inputValue()).pathname;

  const theirs = await browser.newContext();
  const ivy = await theirs.newPage();
  const ivyProblems = watch(ivy);
  await ivy.goto(invitePath);
  await expect(ivy.getByTestId('invite-page')).toBeVisible();
  await expectAccessible(ivy);
  await ivy.getByRole('link', { name: 'Sign in to accept' }).click();
  await expect(ivy).toHaveURL(/\/login\?next=/);
  await ivy.getByLabel('Email').fill('ivy@example.com');
  await ivy.getByLabel('Password').fill(memberPassword);
  await ivy.getByRole('button', { name: 'Sign in' }).click();
  await expect(ivy).toHaveURL(new RegExp(`${invitePath}$`));
  await ivy.getByTestId('accept-invite').click();
  await expect(ivy).toHaveURL(/\/orgs\/acme\/keys/);
  await expect(ivy.getByTestId('nav-role')).toHaveText('member');

  expect(ivyProblems).toEqual([]);
  expect(problems).toEqual([]);
  await theirs.close();
});

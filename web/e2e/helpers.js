// Shared steps of the browser tests.
import { expect } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';

export const setupToken = 'e2e-setup-token-0123456789';
export const operator = { name: 'Olivia Operator', email: 'olivia@example.com', password: 'correct-horse-battery' };

// watch collects console errors, page errors and 5xx responses. Chromium
// logs every 4xx document as a console error; forms answer 4xx on purpose
// when their input is wrong, so those lines are left out (a 5xx is still
// caught by the response listener).
export function watch(page) {
  const problems = [];
  page.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(msg.text())) return;
    problems.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  page.on('response', (res) => {
    if (res.status() >= 500) problems.push(`${res.status()} ${res.url()}`);
  });
  return problems;
}

// expectAccessible runs axe on the page as it is and fails on any serious
// or critical violation; it returns axe's results (which rules ran). The
// pages hold no frames, so axe runs on the top frame alone, and lists one
// node per passing rule: several times faster, the same verdict.
export async function expectAccessible(page) {
  const results = await new AxeBuilder({ page }).setLegacyMode(true).options({ resultTypes: ['violations'] }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target).join(', ')})`)).toEqual([]);
  return results;
}

// noSidewaysScroll asserts the page is no wider than the viewport.
export async function expectNoSidewaysScroll(page) {
  const { scrollWidth, clientWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    clientWidth: document.documentElement.clientWidth,
  }));
  expect(scrollWidth, `the page is ${scrollWidth} px wide in a ${clientWidth} px viewport`).toBeLessThanOrEqual(clientWidth);
}

// signIn logs the operator in, running first-run setup if the instance is new.
export async function signIn(page) {
  await page.goto('/login');
  if (page.url().endsWith('/setup')) {
    await page.getByLabel('Setup token').fill(setupToken);
    await page.getByLabel('Your name').fill(operator.name);
    await page.getByLabel('Email').fill(operator.email);
    await page.getByLabel('Password').fill(operator.password);
    await page.getByLabel('Organization name').fill('Acme');
    await page.getByLabel('Slug').fill('acme');
    await page.getByRole('button', { name: 'Create and sign in' }).click();
  } else {
    await page.getByLabel('Email').fill(operator.email);
    await page.getByLabel('Password').fill(operator.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }
  await expect(page).toHaveURL(/\/orgs\/acme\/keys/);
}

// addMember has the signed-in operator create a user and add them to Acme
// with role; the user's password is memberPassword.
export const memberPassword = 'a-long-enough-password';
export async function addMember(page, name, email, role = 'member') {
  await page.goto('/admin/users');
  const create = page.getByTestId('create-user-form');
  await create.getByLabel('Name').fill(name);
  await create.getByLabel('Email').fill(email);
  await create.getByLabel('Password').fill(memberPassword);
  await create.getByRole('button', { name: 'Create user' }).click();
  await expect(page.getByTestId('users-table')).toContainText(email);
  await page.goto('/admin/orgs');
  const add = page.getByTestId('add-member-form');
  await add.getByLabel('Organization').selectOption({ label: 'Acme (acme)' });
  await add.getByLabel('User').selectOption({ label: `${name} <${email}>` });
  await add.getByLabel('Role').selectOption(role);
  await add.getByRole('button', { name: 'Add to organization' }).click();
}


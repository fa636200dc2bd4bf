// An operator makes a token for the platform's backend, the backend uses it
// on the operator API, and the operator revokes it from the dialog: the
// token is shown once, works, then stops working.
import { test, expect } from '@playwright/test';
import { signIn, watch, expectAccessible } from './helpers.js';

test('create, use and revoke an operator token', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  await page.goto('/admin/tokens');
  await expectAccessible(page);

  const form = page.getByTestId('create-token-form');
  await form.getByLabel('Name').fill('Provisioning backend');
  await form.getByRole('button', { name: 'Create token' }).click();
  await expect(page.getByTestId('token-reveal')).toBeVisible();
  const token = await page.getByTestId('token-secret').inputValue();
  expect(token).toMatch(/^kp_op_[0-9A-Za-z]{36}$/);
  await expectAccessible(page);

  const auth = { Authorization: `Bearer ${token}` };
  const orgs = await page.request.get('/api/v1/admin/orgs', { headers: auth });
  expect(orgs.status()).toBe(200);
  expect((await orgs.json()).data.map((o) => o.slug)).toContain('acme');

  // The token is shown once: the list shows its name, never the token.
  await page.goto('/admin/tokens');
  await expect(page.getByText(token)).toHaveCount(0);
  const row = page.getByTestId('token-row').filter({ hasText: 'Provisioning backend' });
  await row.getByTestId('token-revoke').click();
  const dialog = page.getByTestId('revoke-token-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByTestId('confirm-name')).toHaveText('Provisioning backend');
  await expectAccessible(page);
  await dialog.getByTestId('confirm-revoke-token').click();
  await expect(row.getByTestId('token-status')).toContainText(/revoked/i);

  const after = await page.request.get('/api/v1/admin/orgs', { headers: auth });
  expect(after.status()).toBe(401);
  expect(problems).toEqual([]);
});

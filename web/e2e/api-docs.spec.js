// The management API's reference (/api/docs) renders in a real browser from
// the server's own files under the dashboard's CSP: no violation, no
// request to another origin.
import { test, expect } from '@playwright/test';
import { watch } from './helpers.js';

test('the API reference renders under the CSP', async ({ page, baseURL }) => {
  const problems = watch(page);
  const foreign = [];
  page.on('request', (req) => {
    if (!req.url().startsWith(baseURL) && !req.url().startsWith('data:')) foreign.push(req.url());
  });
  await page.addInitScript(() => {
    window.cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) => {
      window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
    });
  });

  await page.goto('/api/docs');
  await expect(page.locator('.swagger-ui .info .title')).toContainText('Keyplane management API');

  // Open an operation: its parameters, examples and error responses render too.
  const list = page.locator('#operations-Keys-list-keys');
  await list.locator('.opblock-summary').click();
  await expect(list.getByText('next_cursor').first()).toBeVisible();
  await expect(list.getByText('rate_limited').first()).toBeAttached();
  const create = page.locator('#operations-Keys-create-key');
  await create.locator('.opblock-summary').click();
  await expect(create.getByText('Idempotency-Key').first()).toBeVisible();

  expect(await page.evaluate(() => window.cspViolations)).toEqual([]);
  expect(foreign).toEqual([]);
  expect(problems).toEqual([]);
});

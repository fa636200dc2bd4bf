// Usage in a real browser: requests made through the data plane appear on
// the key page (hours in the browser's time zone) and on the organization's
// usage page, for a member who can change nothing.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn, addMember, memberPassword } from './helpers.js';

test('a member sees a key\'s requests on its page and the usage page', async ({ page, browser }) => {
  test.setTimeout(60_000);
  await signIn(page);

  // An admin makes a key and a member.
  await page.goto('/orgs/acme/keys/new?product=default');
  await page.getByLabel('Description').fill('Usage reporter');
  await page.getByRole('checkbox', { name: /^read/ }).check();
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = await page.getByTestId('revealed-key').inputValue();

  await addMember(page, 'Uma Usage', 'uma@example.com');

  // A service verifies the key: 6 allowed, 2 refused for a missing scope.
  for (let i = 0; i < 6; i++) {
    const res = await page.request.post('/v1/verify', { data: { key: secret, scope: 'read' } });
    expect((await res.json()).valid).toBe(true);
  }
  for (let i = 0; i < 2; i++) {
    const res = await page.request.post('/v1/verify', { data: { key: secret, scope: 'write' } });
    expect((await res.json()).code).toBe('forbidden');
  }

  // The member, in a browser set to Kolkata (UTC+05:30; Chromium reports
  // it under its older name, Asia/Calcutta).
  const memberContext = await browser.newContext({ timezoneId: 'Asia/Kolkata' });
  const member = await memberContext.newPage();
  const problems = watch(member);
  await member.goto('/login');
  await member.getByLabel('Email').fill('uma@example.com');
  await member.getByLabel('Password').fill(memberPassword);
  await member.getByRole('button', { name: 'Sign in' }).click();
  await expect(member).toHaveURL(/\/orgs\/acme\/keys/);

  // Counts reach the database within a flush (a few seconds).
  const row = member.getByTestId('key-row').filter({ hasText: 'Usage reporter' });
  await expect(async () => {
    await member.reload();
    await expect(row.getByTestId('key-requests-24h')).toHaveText('8', { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  await expect(row.getByTestId('sparkline')).toBeVisible();

  await row.getByRole('link', { name: 'Usage reporter', exact: true }).click();
  const usage = member.getByTestId('key-usage');
  await expect(usage).toHaveAttribute('data-viewer-tz', /^Asia\/(Kolkata|Calcutta)$/);
  const hourly = member.getByTestId('usage-hourly');
  await expect(hourly.locator('svg[data-chart-svg]')).toBeVisible();
  await expect(hourly.getByTestId('usage-hourly-legend')).toContainText('Missing scope');
  await expect(hourly.locator('caption')).toContainText(/\(Asia\/(Kolkata|Calcutta)\)/);
  // The numbers sit behind a disclosure below the chart.
  await hourly.getByText('Show the numbers').click();
  await expect(member.getByTestId('usage-hourly-table')).toBeVisible();
  // The current hour, last row, is labelled in IST at half past.
  const last = member.getByTestId('usage-hourly-table').locator('tbody tr').last();
  await expect(last.locator('th')).toHaveText(/:30 IST$/);
  await expect(last.locator('[data-outcome="allowed"]')).toHaveText('6');
  await expect(last.locator('[data-outcome="forbidden"]')).toHaveText('2');

  // The last bucket's tooltip, by keyboard focus and by hover, says what
  // its table row says.
  const label = (await last.locator('th').textContent()).trim();
  const bucket = hourly.locator('rect.chart-hit').last();
  const tip = member.getByTestId('usage-hourly-tip');
  await bucket.focus();
  await expect(tip).toBeVisible();
  await expect(tip).toHaveText(`${label}: Allowed 6, Missing scope 2; total 8`);
  await bucket.blur();
  await expect(tip).toBeHidden();
  await hourly.locator('rect.chart-hit').first().hover();
  await expect(tip).toBeVisible();
  const firstLabel = (await member.getByTestId('usage-hourly-table').locator('tbody tr').first().locator('th').textContent()).trim();
  await expect(tip).toHaveText(new RegExp(`^${firstLabel}: `));
  await expect(member.getByTestId('key-scopes-table').locator('tr[data-scope="write"] [data-col="forbidden"]')).toHaveText('2');
  await expectAccessible(member);

  // The 7-day view swaps in place and keeps the URL.
  await usage.getByRole('link', { name: '7 days' }).click();
  await expect(member).toHaveURL(/\?period=7d$/);
  await expect(member.getByTestId('usage-daily').locator('caption')).toContainText('UTC days');
  await expect(member.getByTestId('usage-daily-table').locator('tbody tr')).toHaveCount(7);

  await member.getByTestId('nav-usage').click();
  await expect(member).toHaveURL(/\/orgs\/acme\/usage$/);
  await expect(member.getByTestId('usage-daily').locator('svg[data-chart-svg]')).toBeVisible();
  await expect(member.getByTestId('top-keys')).toContainText('Usage reporter');
  await expect(member.getByTestId('rejections').locator('[data-code="forbidden"]')).toHaveText('2');
  await expectAccessible(member);
  expect(problems).toEqual([]);
  await memberContext.close();
});

test('a rotation\'s cut-over, and ending its grace period from the keyboard', async ({ page }) => {
  test.setTimeout(60_000);
  const problems = watch(page);
  await signIn(page);

  await page.goto('/orgs/acme/keys/new?product=default');
  await page.getByLabel('Description').fill('Cut-over service');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByRole('button', { name: 'Create key without scopes' }).click();
  const oldKey = await page.getByTestId('revealed-key').inputValue();
  for (let i = 0; i < 3; i++) {
    expect((await (await page.request.post('/v1/verify', { data: { key: oldKey } })).json()).valid).toBe(true);
  }

  await page.goto('/orgs/acme/keys');
  await page.getByRole('link', { name: 'Cut-over service', exact: true }).click();
  await page.getByTestId('rotate-key').click();
  const rotate = page.getByTestId('rotate-modal');
  await rotate.getByLabel('In 24 hours').check();
  await rotate.getByTestId('confirm-rotate').click();
  const reveal = page.getByTestId('reveal-modal');
  const newKey = await reveal.getByTestId('revealed-key').inputValue();
  expect((await (await page.request.post('/v1/verify', { data: { key: newKey } })).json()).valid).toBe(true);
  await reveal.getByRole('link', { name: 'Open the key\'s page' }).click();

  // Both keys' traffic reaches the panel after a flush.
  const panel = page.getByTestId('cutover');
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId('cutover-last-hour')).toHaveText('The old key was still used 3 times in the last hour.', { timeout: 500 });
  }).toPass({ timeout: 20_000 });
  await expect(panel.locator('svg[data-chart-svg]')).toBeVisible();
  // The cut-over's tooltips and table speak of the same hours.
  const row = panel.getByTestId('cutover-hours-table').locator('tbody tr').last();
  const hour = (await row.locator('th').textContent()).trim();
  await panel.locator('rect.chart-hit').last().focus();
  await expect(panel.getByTestId('cutover-hours-tip')).toHaveText(new RegExp(`^${hour}: Old key .* 3`));
  await expectAccessible(page);

  // The confirmation opens on Cancel; Tab reaches the action, Enter ends it.
  await panel.getByTestId('end-grace').click();
  const dialog = page.getByTestId('end-grace-modal');
  await expect(dialog).toBeVisible();
  await expect(dialog.getByRole('button', { name: 'Cancel' })).toBeFocused();
  await expect(dialog).toContainText('cannot be undone');
  await expectAccessible(page);
  await page.keyboard.press('Tab');
  await expect(dialog.getByTestId('confirm-end-grace')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('status')).toContainText('Ended the grace period');
  await expect(panel).toHaveCount(0);

  const refused = await (await page.request.post('/v1/verify', { data: { key: oldKey } })).json();
  expect(refused.code).toBe('key_expired');
  expect((await (await page.request.post('/v1/verify', { data: { key: newKey } })).json()).valid).toBe(true);
  expect(problems).toEqual([]);
});

test('usage downloads as CSV, over a custom range of days too', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  await page.goto('/orgs/acme/usage');
  const csvHeader = 'time_bucket_utc,key_id,key_description,outcome,count';

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('usage-csv').click(),
  ]);
  expect(download.suggestedFilename()).toMatch(/^keyplane-usage-acme-\d{8}-\d{8}\.csv$/);
  const body = await (await import('node:fs/promises')).readFile(await download.path(), 'utf8');
  expect(body.split(/\r?\n/)[0]).toBe(csvHeader);

  // A custom range: the days chosen show, and their CSV.
  const today = new Date().toISOString().slice(0, 10);
  const weekAgo = new Date(Date.now() - 6 * 86400_000).toISOString().slice(0, 10);
  const range = page.getByTestId('usage-custom-range');
  await range.getByLabel('From').fill(weekAgo);
  await range.getByLabel('To').fill(today);
  await range.getByRole('button', { name: 'Show these days' }).click();
  await expect(page).toHaveURL(new RegExp(`range=custom.*from=${weekAgo}`));
  await expect(page.locator('#totals-heading')).toContainText(`${weekAgo} to ${today}`);
  await expect(page.getByTestId('usage-daily-table').locator('tbody tr')).toHaveCount(7);
  await expectAccessible(page);
  const [custom] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('usage-csv').click(),
  ]);
  expect(custom.suggestedFilename()).toBe(`keyplane-usage-acme-${weekAgo.replaceAll('-', '')}-${today.replaceAll('-', '')}.csv`);

  // An end before the start is refused with a message, at phone width too.
  await range.getByLabel('From').fill(today);
  await range.getByLabel('To').fill(weekAgo);
  await range.getByRole('button', { name: 'Show these days' }).click();
  await expect(page.getByTestId('usage-range-error')).toContainText('is before the start date');
  await expect(range.getByLabel('From')).toHaveAttribute('aria-invalid', 'true');
  await page.setViewportSize({ width: 390, height: 800 });
  await expectAccessible(page);
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);

  // The key page's section downloads its own CSV.
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/orgs/acme/keys');
  await page.getByTestId('key-row').first().getByRole('link').first().click();
  const [keyCSV] = await Promise.all([
    page.waitForEvent('download'),
    page.getByTestId('key-usage-csv').click(),
  ]);
  expect(keyCSV.suggestedFilename()).toMatch(/^keyplane-usage-acme-[0-9a-f-]{36}-\d{8}-\d{8}\.csv$/);
  const keyBody = await (await import('node:fs/promises')).readFile(await keyCSV.path(), 'utf8');
  expect(keyBody.split(/\r?\n/)[0]).toBe(csvHeader);
  expect(problems).toEqual([]);
});

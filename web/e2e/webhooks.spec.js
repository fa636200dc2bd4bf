// Webhooks in a real browser: an admin adds an endpoint that a receiver
// started here listens on, sees its signing secret once, sends a test
// event and watches it arrive in the delivery log; the receiver checks the
// Standard Webhooks signature with its own code.
import { test, expect } from '@playwright/test';
import http from 'node:http';
import crypto from 'node:crypto';
import { watch, expectAccessible, signIn } from './helpers.js';

// startReceiver listens on 127.0.0.1 and keeps every request it gets.
async function startReceiver() {
  const got = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.end('ok');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, got, url: `http://127.0.0.1:${server.address().port}/hook` };
}

// verify checks a request as the Standard Webhooks specification says:
// HMAC-SHA256 over "id.timestamp.body" keyed with the base64 after whsec_.
function verify(secret, headers, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const want = crypto.createHmac('sha256', key).update(signed).digest();
  return headers['webhook-signature'].split(' ').some((s) => {
    const [version, sig] = s.split(',');
    const got = Buffer.from(sig || '', 'base64');
    return version === 'v1' && got.length === want.length && crypto.timingSafeEqual(got, want);
  });
}

async function noSidewaysScroll(page) {
  const [scroll, client] = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  expect(scroll).toBeLessThanOrEqual(client);
}

test('add an endpoint, see its secret once, and deliver a test event', async ({ page }) => {
  // Nine accessibility checks and a real delivery: the longest spec.
  test.setTimeout(120_000);
  const problems = watch(page);
  const receiver = await startReceiver();
  try {
    await signIn(page);
    await page.goto('/orgs/acme/settings');
    await page.getByTestId('settings-webhooks').click();
    await expect(page).toHaveURL(/\/orgs\/acme\/webhooks$/);
    await expect(page.getByRole('heading', { name: 'Webhooks' })).toBeVisible();
    await expectAccessible(page);

    await page.getByTestId('new-webhook').click();
    await expect(page).toHaveURL(/\/orgs\/acme\/webhooks\/new$/);
    await expectAccessible(page);
    // A refused address first: the form says why, and keeps the input.
    await page.getByLabel('Endpoint URL').fill('ftp://127.0.0.1/hook');
    await page.getByTestId('webhook-submit').click();
    await expect(page.getByTestId('error-url')).toContainText('http or https');
    await expectAccessible(page);

    await page.getByLabel('Endpoint URL').fill(receiver.url);
    await page.getByLabel('Description (optional)').fill('E2E receiver');
    await expect(page.getByTestId('event-all')).toBeChecked();
    await page.getByTestId('webhook-submit').click();
    const secretField = page.getByTestId('webhook-secret');
    await expect(secretField).toBeVisible();
    const secret = await secretField.inputValue();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    await expectAccessible(page);
    await page.getByTestId('reveal-continue').click();
    await expect(page.getByTestId('webhook-title')).toHaveText(receiver.url);
    expect(await page.content()).not.toContain(secret);

    // The secret is not shown again: not on a reload, not in the list.
    await page.reload();
    expect(await page.content()).not.toContain('whsec_');
    await page.goto('/orgs/acme/webhooks');
    await expect(page.getByTestId('webhook-row')).toHaveCount(1);
    expect(await page.content()).not.toContain('whsec_');
    await page.getByTestId('webhook-url').click();

    await page.getByTestId('send-test').click();
    const row = page.getByTestId('delivery-row').first();
    await expect(row).toContainText('webhook.test');
    // The log reloads itself until the delivery is made.
    await expect(row.getByTestId('delivery-status')).toContainText('Delivered', { timeout: 15_000 });
    await expect(row.getByTestId('delivery-code')).toHaveText('200');
    await expectAccessible(page);

    expect(receiver.got).toHaveLength(1);
    const req = receiver.got[0];
    expect(req.headers['webhook-id']).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(req.headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(verify(secret, req.headers, req.body)).toBe(true);
    // Another secret (its first character changed) does not verify.
    const other = secret[6] === 'A' ? 'B' : 'A';
    expect(verify(`whsec_${other}${secret.slice(7)}`, req.headers, req.body)).toBe(false);
    const body = JSON.parse(req.body);
    expect(body.type).toBe('webhook.test');
    expect(req.body).not.toContain('whsec_');

    // On a phone: nothing scrolls sideways, and still accessible.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await noSidewaysScroll(page);
    await expectAccessible(page);
    await page.goto('/orgs/acme/webhooks');
    await noSidewaysScroll(page);
    await expectAccessible(page);
    await page.getByTestId('webhook-url').click();
    await page.setViewportSize({ width: 1280, height: 800 });

    // Delete, behind a dialog that names the endpoint.
    await page.getByTestId('delete-webhook').click();
    const dialog = page.getByTestId('delete-webhook-modal');
    await expect(dialog).toBeVisible();
    await expect(dialog.getByTestId('confirm-url')).toHaveText(receiver.url);
    await expectAccessible(page);
    await dialog.getByTestId('confirm-delete').click();
    await expect(page).toHaveURL(/\/orgs\/acme\/webhooks$/);
    await expect(page.getByTestId('no-webhooks')).toBeVisible();

    expect(problems).toEqual([]);
  } finally {
    receiver.server.close();
  }
});

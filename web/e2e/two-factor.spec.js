// Two-factor sign-in in a real browser: an org admin turns it on from the
// account page, reading the secret off the page as an authenticator app
// would, then signs in with password and code, then with a recovery code,
// which works once. The operator shared by the other specs is left alone.
import { createHmac } from 'node:crypto';
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, signIn, addMember, memberPassword } from './helpers.js';

const admin = { name: 'Tess Twofactor', email: 'tess@example.com' };
const period = 30;

// base32 decodes RFC 4648 base32 (the secret's alphabet), spaces ignored.
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  const out = [];
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const i = alphabet.indexOf(ch);
    if (i < 0) throw new Error(`not base32: ${ch}`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

// totp is RFC 6238 with SHA-1, six digits and 30-second steps: the HOTP
// (RFC 4226) of the step number.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const n = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

const stepNow = () => Math.floor(Date.now() / 1000 / period);

// freshStep waits until the step after used has begun: each step's code is
// accepted once.
async function freshStep(used) {
  const wait = (used + 1) * period * 1000 - Date.now() + 250;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  return stepNow();
}

async function passwordStep(page) {
  await page.goto('/login');
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill(memberPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/login\/two-factor$/);
}

async function logOut(page) {
  await page.getByRole('button', { name: 'Log out' }).click();
  await expect(page).toHaveURL(/\/login$/);
}

test('turn on two-factor, then sign in with a code and with a recovery code once', async ({ page: operatorPage, browser }) => {
  test.setTimeout(120_000);
  const operatorProblems = watch(operatorPage);
  await signIn(operatorPage);
  await addMember(operatorPage, admin.name, admin.email, 'admin');
  expect(operatorProblems).toEqual([]);

  const context = await browser.newContext();
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto('/login');
  await page.getByLabel('Email').fill(admin.email);
  await page.getByLabel('Password').fill(memberPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys/);

  // Enrolment on the account page.
  await page.getByTestId('nav-account').click();
  await expect(page.getByTestId('two-factor-status')).toContainText('Off');
  await page.getByRole('button', { name: 'Set up two-factor' }).click();
  await expect(page).toHaveURL(/\/account\/two-factor\/setup$/);
  const qr = page.getByTestId('two-factor-qr');
  await expect(qr).toBeVisible();
  expect(await qr.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
  // The image is drawn, from the page itself.
  expect(await qr.evaluate((img) => img.complete && img.naturalWidth > 0)).toBe(true);
  await expectAccessible(page);
  const secret = (await page.getByTestId('two-factor-secret').innerText()).replace(/\s/g, '');
  expect(secret).toMatch(/^[A-Z2-7]{32}$/);

  const enrolStep = stepNow();
  await page.getByLabel('Code from the app').fill(totp(secret, enrolStep));
  await page.getByRole('button', { name: 'Turn on two-factor' }).click();
  const codes = page.getByTestId('recovery-code');
  await expect(codes).toHaveCount(10);
  const recovery = (await codes.allInnerTexts()).map((c) => c.trim());
  for (const c of recovery) expect(c).toMatch(/^[a-z2-7]{4}(-[a-z2-7]{4}){3}$/);
  const download = page.getByTestId('recovery-download');
  expect(await download.getAttribute('download')).toBe('keyplane-recovery-codes.txt');
  expect(decodeURIComponent(await download.getAttribute('href'))).toContain(recovery[0]);
  await expectAccessible(page);
  await page.getByTestId('recovery-done').click();
  await expect(page.getByTestId('two-factor-status')).toContainText('On');
  await expect(page.getByTestId('recovery-count')).toContainText('10 of 10');

  // Password, then a code of a step after the one that turned it on.
  await logOut(page);
  await passwordStep(page);
  await expectAccessible(page);
  // Half signed in: no page of the organization opens.
  await page.goto('/orgs/acme/keys');
  await expect(page).toHaveURL(/\/login\?next=%2Forgs%2Facme%2Fkeys$/);
  await passwordStep(page);
  const step = await freshStep(enrolStep);
  await page.getByLabel('Code or recovery code').fill(totp(secret, step));
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys/);
  await expect(page.getByTestId('nav-user')).toContainText(admin.name);

  // A recovery code instead of a code: once.
  await logOut(page);
  await passwordStep(page);
  await page.getByLabel('Code or recovery code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByTestId('recovery-left')).toContainText('9 recovery codes left');
  await page.getByRole('link', { name: 'Continue' }).click();
  await expect(page).toHaveURL(/\/orgs\/acme\/keys/);

  await logOut(page);
  await passwordStep(page);
  await page.getByLabel('Code or recovery code').fill(recovery[0]);
  await page.getByRole('button', { name: 'Verify' }).click();
  await expect(page.getByTestId('form-error')).toContainText('has been used');
  await expect(page).toHaveURL(/\/login\/two-factor$/);
  await page.goto('/orgs/acme/keys');
  await expect(page).toHaveURL(/\/login\?next=%2Forgs%2Facme%2Fkeys$/);

  expect(problems).toEqual([]);
  await context.close();
});

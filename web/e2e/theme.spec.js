// Dark mode and the header on every screen: the theme toggle (a cookie the
// server renders, so a reload stays dark), axe's colour contrast in dark
// mode on a desktop and a phone, the phone's menu by keyboard, and the org
// switcher closing with Escape.
import { test, expect } from '@playwright/test';
import { watch, expectAccessible, expectNoSidewaysScroll, signIn, operator } from './helpers.js';

test.describe.configure({ mode: 'serial' });

// pageIsDark reports whether the page is drawn dark: <html>'s background is
// dark, whatever says so (the choice or the device).
async function pageIsDark(page) {
  return page.evaluate(() => {
    const probe = document.createElement('canvas').getContext('2d');
    probe.fillStyle = getComputedStyle(document.documentElement).backgroundColor;
    probe.fillRect(0, 0, 1, 1);
    const [r, g, b] = probe.getImageData(0, 0, 1, 1).data;
    return 0.2126 * r + 0.7152 * g + 0.0722 * b < 60;
  });
}

// chooseDark presses Dark in the theme form (every test has its own
// cookies, so its own choice).
async function chooseDark(page) {
  await page.getByRole('group', { name: 'Theme' }).getByRole('button', { name: 'Dark' }).click();
  await expect(page.locator('html')).toHaveClass(/\bdark\b/);
}

// expectFrameFits asserts the frame (header, menu, footer, page layout)
// does not make the page scroll sideways: the page's own tables, which
// their screens lay out for phones, are set aside while it measures.
async function expectFrameFits(page) {
  const tables = page.locator('main table');
  await tables.evaluateAll((ts) => ts.forEach((t) => { t.hidden = true; }));
  await expectNoSidewaysScroll(page);
  await tables.evaluateAll((ts) => ts.forEach((t) => { t.hidden = false; }));
}

test('the toggle turns the dashboard dark, and a reload keeps it', async ({ page }) => {
  const problems = watch(page);
  // The device prefers light: only the choice can make the page dark.
  await page.emulateMedia({ colorScheme: 'light' });
  await signIn(page);
  const html = page.locator('html');
  const theme = page.getByRole('group', { name: 'Theme' });
  await expect(theme.getByRole('button', { name: 'System' })).toHaveAttribute('aria-pressed', 'true');
  expect(await pageIsDark(page)).toBe(false);

  await theme.getByRole('button', { name: 'Dark' }).click();
  await expect(html).toHaveClass(/\bdark\b/);
  await expect(html).toHaveAttribute('data-theme', 'dark');
  await expect(theme.getByRole('button', { name: 'Dark' })).toHaveAttribute('aria-pressed', 'true');
  await expect(theme.getByRole('button', { name: 'Dark' })).toBeFocused();
  expect(await pageIsDark(page)).toBe(true);

  await page.reload();
  await expect(html).toHaveClass(/\bdark\b/);
  await expect(page.getByRole('group', { name: 'Theme' }).getByRole('button', { name: 'Dark' })).toHaveAttribute('aria-pressed', 'true');
  expect(await pageIsDark(page)).toBe(true);
  expect(problems).toEqual([]);
});

test('System follows the device', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  const theme = page.getByRole('group', { name: 'Theme' });
  await theme.getByRole('button', { name: 'System' }).click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'system');
  await expect(page.locator('html')).not.toHaveClass(/\bdark\b/);
  await page.emulateMedia({ colorScheme: 'dark' });
  expect(await pageIsDark(page)).toBe(true);
  await page.emulateMedia({ colorScheme: 'light' });
  expect(await pageIsDark(page)).toBe(false);

  // Light holds against a dark device, and Dark against a light one.
  await theme.getByRole('button', { name: 'Light' }).click();
  await expect(page.locator('html')).toHaveAttribute('data-theme', 'light');
  await page.emulateMedia({ colorScheme: 'dark' });
  expect(await pageIsDark(page)).toBe(false);
  await chooseDark(page);
  await page.emulateMedia({ colorScheme: 'light' });
  expect(await pageIsDark(page)).toBe(true);
  expect(problems).toEqual([]);
});

for (const width of [1280, 390]) {
  test(`keys, usage and account pages pass axe in dark mode at ${width} px`, async ({ page }) => {
    await page.setViewportSize({ width, height: 900 });
    await page.emulateMedia({ colorScheme: 'light' });
    const problems = watch(page);
    await signIn(page);
    await chooseDark(page);
    for (const path of ['/orgs/acme/keys', '/orgs/acme/usage', '/account']) {
      await page.goto(path);
      await expect(page.locator('html')).toHaveClass(/\bdark\b/);
      expect(await pageIsDark(page), `${path} is drawn dark`).toBe(true);
      const results = await expectAccessible(page);
      const contrast = results.passes.find((r) => r.id === 'color-contrast');
      expect(contrast && contrast.nodes.length, `${path}: axe checked colour contrast`).toBeGreaterThan(0);
      if (path === '/orgs/acme/keys') await expectFrameFits(page);
      else await expectNoSidewaysScroll(page);
    }
    expect(problems).toEqual([]);
  });
}

test('on a phone the navigation is a menu that opens by keyboard', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 });
  const problems = watch(page);
  await signIn(page);
  for (const path of ['/orgs/acme/keys', '/orgs/acme/usage', '/account', '/admin/users']) {
    await page.goto(path);
    const toggle = page.getByTestId('nav-menu-toggle');
    const usage = page.getByTestId('nav-usage');
    await expect(toggle).toBeVisible();
    await expect(usage).toBeHidden();
    // The header is one row: brand, organization and the menu's toggle.
    const header = await page.locator('header').boundingBox();
    expect(header.height, `${path}: header height`).toBeLessThan(80);
    await expectFrameFits(page);
  }

  await page.goto('/account');
  const toggle = page.getByTestId('nav-menu-toggle');
  await toggle.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('nav-usage')).toBeVisible();
  await expect(page.getByTestId('nav-account')).toHaveAttribute('aria-current', 'page');
  await expectNoSidewaysScroll(page);
  await expectAccessible(page);
  await page.keyboard.press('Tab');
  await expect(page.getByTestId('nav-keys')).toBeFocused();
  await page.keyboard.press('Escape');
  await expect(page.getByTestId('nav-usage')).toBeHidden();
  await expect(toggle).toBeFocused();
  // Space opens it too, and a link leads on.
  await page.keyboard.press(' ');
  await page.getByTestId('nav-usage').click();
  await expect(page).toHaveURL(/\/orgs\/acme\/usage/);
  await expect(page.getByTestId('nav-usage')).toBeHidden();
  expect(problems).toEqual([]);
});

test('on a desktop the links stand in a row, on the account page too', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  const problems = watch(page);
  await signIn(page);
  await page.goto('/account');
  await expect(page.getByTestId('nav-menu-toggle')).toBeHidden();
  await expect(page.getByRole('link', { name: 'API keys' })).toHaveAttribute('href', '/orgs/acme/keys');
  await expect(page.getByRole('link', { name: 'Usage' })).toBeVisible();
  // The organization's pages and the user's share the brand's row; the
  // operator's pages have a row of their own.
  const middle = async (el) => {
    const b = await el.boundingBox();
    return b.y + b.height / 2;
  };
  const row = await middle(page.getByRole('link', { name: 'Keyplane' }));
  for (const el of [page.getByTestId('nav-keys'), page.getByTestId('nav-settings'), page.getByTestId('nav-account'), page.getByRole('button', { name: 'Log out' })]) {
    expect(Math.abs((await middle(el)) - row)).toBeLessThan(8);
  }
  expect(await middle(page.getByTestId('nav-admin-users'))).toBeGreaterThan(row + 20);
  const header = await page.locator('header').boundingBox();
  expect(header.height).toBeLessThan(120);
  await expectNoSidewaysScroll(page);
  expect(problems).toEqual([]);
});

test('the org switcher closes with Escape and gives focus back', async ({ page }) => {
  const problems = watch(page);
  await signIn(page);
  if ((await page.getByTestId('org-switcher').count()) === 0) {
    await page.goto('/admin/orgs');
    const form = page.getByTestId('create-org-form');
    await form.getByLabel('Name').fill('Umbrella');
    await form.getByLabel('Slug').fill('umbrella');
    await form.getByLabel('First admin').selectOption({ label: `${operator.name} <${operator.email}>` });
    await form.getByRole('button', { name: 'Create organization' }).click();
    await page.goto('/orgs/acme/keys');
  }
  for (const width of [1280, 390]) {
    await page.setViewportSize({ width, height: 900 });
    await page.goto('/account');
    const switcher = page.getByTestId('org-switcher');
    const summary = switcher.locator('summary');
    await expect(summary).toHaveText('Acme');
    await summary.focus();
    await page.keyboard.press('Enter');
    await expect(switcher).toHaveAttribute('open', '');
    await expectNoSidewaysScroll(page);
    await page.keyboard.press('Tab');
    await expect(switcher.getByRole('link').first()).toBeFocused();
    await page.keyboard.press('Escape');
    await expect(switcher).not.toHaveAttribute('open', '');
    await expect(summary).toBeFocused();
    // A click elsewhere closes it too.
    await summary.click();
    await expect(switcher).toHaveAttribute('open', '');
    await page.locator('main').click({ position: { x: 2, y: 2 } });
    await expect(switcher).not.toHaveAttribute('open', '');
  }
  expect(problems).toEqual([]);
});

test('without JavaScript the theme form and the phone menu still work', async ({ browser, baseURL }) => {
  const context = await browser.newContext({ javaScriptEnabled: false, baseURL, viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  const problems = watch(page);
  await signIn(page);
  await page.goto('/orgs/acme/usage');
  await page.getByRole('group', { name: 'Theme' }).getByRole('button', { name: 'Dark' }).click();
  // The form posted and came back to the page it was on.
  await expect(page).toHaveURL(/\/orgs\/acme\/usage$/);
  await expect(page.locator('html')).toHaveClass(/\bdark\b/);
  await page.getByTestId('nav-menu-toggle').click();
  await page.getByTestId('nav-account').click();
  await expect(page).toHaveURL(/\/account$/);
  expect(problems).toEqual([]);
  await context.close();
});

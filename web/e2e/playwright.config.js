// Playwright configuration for Keyplane's browser tests (web/e2e/*.spec.js).
// Run from the repository root with `npm run test:e2e` or `make test-e2e`.
//
// Browsers are never downloaded: tests drive the system Chromium (Debian's
// /usr/bin/chromium, or $CHROMIUM_PATH). The web servers below build the
// binaries and serve Keyplane from a fresh data dir; webServer.cwd defaults to this file's
// directory, hence the ../../ paths.
import { defineConfig, devices } from '@playwright/test';

// E2E_PORT and E2E_IDP_PORT move the two servers, so that two checkouts can
// run their suites side by side.
const addr = `127.0.0.1:${process.env.E2E_PORT || 18080}`;
const baseURL = `http://${addr}`;
const idpAddr = `127.0.0.1:${process.env.E2E_IDP_PORT || 18471}`;
// The provider's client and the one person it signs in (sso.spec.js).
const sso = {
  name: 'Test IdP',
  clientID: 'keyplane-e2e',
  clientSecret: 'keyplane-e2e-secret',
  email: 'sam@example.com',
  userName: 'Sam Single',
};

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.js',
  outputDir: 'test-results',
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  workers: 1,
  retries: 0,
  reporter: 'list',
  // Per test. The longest specs walk several screens with axe at two
  // widths; on a busy 2-core machine that alone can take half a minute.
  timeout: 60_000,
  expect: { timeout: 5_000 },
  use: {
    baseURL,
    actionTimeout: 10_000,
    navigationTimeout: 15_000,
    trace: 'retain-on-failure',
    screenshot: 'only-on-failure',
  },
  projects: [
    {
      name: 'chromium',
      use: {
        ...devices['Desktop Chrome'],
        launchOptions: {
          executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
          args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
        },
      },
    },
  ],
  // A mock OpenID Connect provider (cmd/mockidp: it signs one person in at
  // once) starts first; Keyplane offers single sign-on through it, with
  // password sign-in still on, so every spec shares one server.
  webServer: [
    {
      command: 'go build -o ../../bin/mockidp ../../cmd/mockidp && ../../bin/mockidp',
      url: `http://${idpAddr}/oidc/.well-known/openid-configuration`,
      env: {
        MOCKIDP_ADDR: idpAddr,
        MOCKIDP_CLIENT_ID: sso.clientID,
        MOCKIDP_CLIENT_SECRET: sso.clientSecret,
        MOCKIDP_EMAIL: sso.email,
        MOCKIDP_NAME: sso.userName,
      },
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
    },
    {
      command: 'go build -o ../../bin/keyplane ../../cmd/keyplane && rm -rf ../../tmp/e2e && ../../bin/keyplane serve',
      url: `${baseURL}/healthz`,
      env: {
        KEYPLANE_ADDR: addr,
        // The provider sends the browser back to this origin, where the
        // flow cookie was set.
        KEYPLANE_BASE_URL: baseURL,
        KEYPLANE_DATA_DIR: '../../tmp/e2e',
        KEYPLANE_SETUP_TOKEN: 'e2e-setup-token-0123456789',
        KEYPLANE_LOG_FORMAT: 'text',
        KEYPLANE_PORTAL_RETURN_ORIGINS: 'http://localhost:3000',
        KEYPLANE_OIDC_ISSUER: `http://${idpAddr}/oidc`,
        KEYPLANE_OIDC_CLIENT_ID: sso.clientID,
        KEYPLANE_OIDC_CLIENT_SECRET: sso.clientSecret,
        KEYPLANE_OIDC_NAME: sso.name,
        // webhooks.spec.js receives deliveries on 127.0.0.1.
        KEYPLANE_WEBHOOK_ALLOW_PRIVATE: 'true',
      },
      reuseExistingServer: false,
      timeout: 120_000,
      stdout: 'pipe',
      stderr: 'pipe',
      gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
    },
  ],
});

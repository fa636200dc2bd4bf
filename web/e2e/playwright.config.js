// Playwright configuration for Keyplane's browser tests (web/e2e/*.spec.js).
// Run from the repository root with `npm run test:e2e` or `make test-e2e`.
//
// Browsers are never downloaded: tests drive the system Chromium (Debian's
// /usr/bin/chromium, or $CHROMIUM_PATH). The web server below builds the binary
// and serves it from a fresh data dir; webServer.cwd defaults to this file's
// directory, hence the ../../ paths.
import { defineConfig, devices } from '@playwright/test';

const addr = '127.0.0.1:18080';
const baseURL = `http://${addr}`;

export default defineConfig({
  testDir: '.',
  testMatch: '*.spec.js',
  outputDir: 'test-results',
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  workers: 1,
  retries: 0,
  reporter: 'list',
  timeout: 30_000,
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
  webServer: {
    command: 'go build -o ../../bin/keyplane ../../cmd/keyplane && rm -rf ../../tmp/e2e && ../../bin/keyplane serve',
    url: `${baseURL}/healthz`,
    env: {
      KEYPLANE_ADDR: addr,
      KEYPLANE_DATA_DIR: '../../tmp/e2e',
      KEYPLANE_SETUP_TOKEN: 'e2e-setup-token-0123456789',
      KEYPLANE_LOG_FORMAT: 'text',
      KEYPLANE_PORTAL_RETURN_ORIGINS: 'http://localhost:3000',
    },
    reuseExistingServer: false,
    timeout: 120_000,
    stdout: 'pipe',
    stderr: 'pipe',
    gracefulShutdown: { signal: 'SIGTERM', timeout: 5_000 },
  },
});

import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

/** Debian's chromium: never a downloaded browser. */
export const CHROMIUM = process.env.TASKLANE_CHROMIUM ?? '/usr/bin/chromium';

/** Launches the system chromium headless, with the flags the project's tests always use. */
export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

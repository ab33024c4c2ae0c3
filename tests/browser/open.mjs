// Opens a URL in headless Chromium like a person would and reports what the page shows, as JSON
// on stdout: {"url": final URL, "h1": the page's first heading, "frame_h1": the first heading
// inside the iframe #f (when --frame is given), "frame_url": the iframe's URL}.
// Usage: node open.mjs <url> [--frame] [--screenshot <file.png>]
import { chromium } from 'playwright-core';

const args = process.argv.slice(2);
const url = args[0];
const withFrame = args.includes('--frame');
const shotAt = args.indexOf('--screenshot');
const screenshot = shotAt >= 0 ? args[shotAt + 1] : null;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  const result = { url: page.url(), h1: await page.locator('h1').first().textContent({ timeout: 5000 }).catch(() => null) };
  if (withFrame) {
    const frame = page.frameLocator('#f');
    result.frame_h1 = await frame.locator('h1').first().textContent({ timeout: 5000 }).catch(() => null);
    const handle = await page.$('#f');
    const content = handle ? await handle.contentFrame() : null;
    result.frame_url = content ? content.url() : null;
  }
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await browser.close();
}

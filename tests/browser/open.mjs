// Opens a URL in headless Chromium like a person would and reports what the page shows, as JSON
// on stdout: {"url": final URL, "h1": the page's first heading, "frame_h1": the first heading
// inside the iframe #f (when --frame is given), "frame_url": the iframe's URL, "steps": what each
// step showed ({url, h1}), "posts": the POSTs the browser sent ({url, origin, referer})}.
// Steps, in order after the first page: --goto <url> opens another URL in the same browser,
// --click <text> clicks the button named <text> and waits for the page it leads to.
// Usage: node open.mjs <url> [--frame] [--screenshot <file.png>] [--goto <url> | --click <text>]...
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
  const heading = () => page.locator('h1').first().textContent({ timeout: 5000 }).catch(() => null);
  result.steps = [];
  result.posts = [];
  page.on('request', (request) => {
    if (request.method() === 'POST') {
      const headers = request.headers();
      result.posts.push({ url: request.url(), origin: headers.origin ?? null, referer: headers.referer ?? null });
    }
  });
  for (let i = 1; i < args.length - 1; i++) {
    if (args[i] === '--goto') {
      await page.goto(args[i + 1], { waitUntil: 'load', timeout: 15000 });
    } else if (args[i] === '--click') {
      await Promise.all([
        page.waitForNavigation({ waitUntil: 'load', timeout: 15000 }),
        page.getByRole('button', { name: args[i + 1] }).click({ timeout: 5000 }),
      ]);
    } else {
      continue;
    }
    result.steps.push({ url: page.url(), h1: await heading() });
    i++;
  }
  if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await browser.close();
}

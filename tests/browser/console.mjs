// Signs in to the web console through its form as an operator would, checks each page with
// axe-core (injected by Playwright), signs out and opens the console again. Reports JSON on
// stdout: {"steps": [{name, url, h1, violations: [{id, impact, nodes}], overflow}], "csp": [messages
// of CSP violations], "posts": [{url, origin}]}. `overflow` says whether the page is wider than the
// window at 1280×800 and at a phone's 390×844. With a screenshot directory, writes the overview
// at 1280×800 there as overview.png.
// Usage: node console.mjs <console url (…/admin)> <admin token> [screenshot directory]
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const [url, token, screenshots] = process.argv.slice(2);
const axe = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: [
    '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
  ],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const result = { steps: [], csp: [], posts: [] };
  page.on('console', (message) => {
    if (message.text().includes('Content Security Policy')) result.csp.push(message.text());
  });
  page.on('request', (request) => {
    if (request.method() === 'POST') result.posts.push({ url: request.url(), origin: request.headers().origin ?? null });
  });
  const overflows = () => page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth);
  const record = async (name, { audit = true } = {}) => {
    const step = {
      name,
      url: page.url(),
      h1: await page.locator('h1').first().textContent({ timeout: 5000 }).catch(() => null),
    };
    if (audit) {
      // Evaluated through the DevTools protocol, which the page's CSP does not govern.
      await page.evaluate(axe);
      step.violations = await page.evaluate(async () => {
        const report = await window.axe.run(document, { resultTypes: ['violations'] });
        return report.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(' ')) }));
      });
      step.overflow = { desktop: await overflows() };
      await page.setViewportSize({ width: 390, height: 844 });
      step.overflow.phone = await overflows();
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    result.steps.push(step);
  };
  const submit = (button) => Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: 15000 }),
    page.getByRole('button', { name: button }).click({ timeout: 5000 }),
  ]);

  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await record('sign-in');
  await page.getByLabel('Admin token').fill(token);
  await submit('Sign in');
  await record('home');
  if (screenshots) {
    mkdirSync(screenshots, { recursive: true });
    await page.screenshot({ path: `${screenshots}/overview.png` });
  }
  await submit('Sign out');
  await record('signed-out', { audit: false });
  await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  await record('again', { audit: false });
  process.stdout.write(JSON.stringify(result) + '\n');
} finally {
  await browser.close();
}

// Signs in to the web console through its form as an operator would, checks each page with
// axe-core (injected by Playwright), signs out and opens the console again. Reports JSON on
// stdout: {"steps": [{name, url, h1, violations: [{id, impact, nodes}], overflow}], "csp": [messages
// of CSP violations], "posts": [{url, origin}]}. `overflow` says whether the page is wider than the
// window at 1280×800 and at a phone's 390×844. With a screenshot directory, writes the overview
// at 1280×800 there as overview.png.
// Usage: node console.mjs <console url (…/admin)> <admin token> [screenshot directory]
import { mkdirSync } from 'node:fs';
import { axeViolations, launch } from './chromium.mjs';

const [url, token, screenshots] = process.argv.slice(2);

const browser = await launch();
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
      step.violations = await axeViolations(page);
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

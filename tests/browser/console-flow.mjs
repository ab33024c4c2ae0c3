// One operator's flow through the web console, end to end in Chromium: signs in with the token
// through the form; creates an organization, a partner, a link and a user through the console's
// forms, reading the secrets shown once; mints a link through the partner API (fetch from here,
// as a partner's backend would) and redeems it in the browser; reads the overview's numbers;
// disables the user, mints again (refused) and finds the refusal in the audit log; rotates the
// partner's secret and opens its page again; signs out and opens the console again. axe-core
// checks the overview, the audit log and the partner page, each also written as a 1280×800
// screenshot to the screenshot directory ({overview,audit,partner}.png).
// Reports JSON on stdout: what each step saw, for the Rust test to judge.
// Usage: node console-flow.mjs <server url> <admin token> <screenshot directory>
import { mkdirSync } from 'node:fs';
import { axeViolations, launch } from './chromium.mjs';

const [base, token, screenshots] = process.argv.slice(2);
mkdirSync(screenshots, { recursive: true });

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const out = { violations: {} };
  const text = (selector) => page.locator(selector).first().textContent({ timeout: 5000 }).then((t) => t.trim());
  const h1 = () => text('h1').catch(() => null);
  const submit = (button) => Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: 15000 }),
    page.getByRole('button', { name: button, exact: true }).click({ timeout: 5000 }),
  ]);
  const open = (path) => page.goto(new URL(path, base).href, { waitUntil: 'load', timeout: 15000 });
  // axe-core's serious and critical violations of the page, and its screenshot.
  const check = async (name) => {
    out.violations[name] = (await axeViolations(page)).filter((v) => ['serious', 'critical'].includes(v.impact));
    await page.screenshot({ path: `${screenshots}/${name}.png` });
  };
  const secretShown = async () => (await page.locator('.secret-value code').count()) > 0;
  // The partner API, as a partner's backend calls it.
  const mint = async (headers) => {
    const response = await fetch(new URL('/v1/sso', base), { method: 'POST', headers });
    return { status: response.status, body: await response.json() };
  };

  // Sign in through the form.
  await open('/admin');
  await page.getByLabel('Admin token').fill(token);
  await submit('Sign in');
  out.signedIn = { url: page.url(), h1: await h1() };

  // An organization: its secret is shown on the answer to the form.
  await open('/admin/organizations');
  await page.locator('#name').fill('Fjordheim legesenter');
  await page.locator('#org_numbers').fill('987654321');
  await submit('Create');
  const organization = {
    h1: await h1(),
    id: await text('dl.facts dd code'),
    secret: await text('.secret-value code'),
  };
  // A user of it, created on its page.
  await page.locator('#user_email').fill('ola.nordmann@example.com');
  await page.locator('#given_name').fill('Ola');
  await page.locator('#family_name').fill('Nordmann');
  await submit('Create the user');
  const user = { url: page.url(), h1: await h1(), id: page.url().split('/').pop() };
  out.organization = organization;
  out.user = user;

  // A partner, its secret shown once, linked to the organization.
  await open('/admin/partners');
  await page.locator('#name').fill('Journal AS');
  await submit('Create');
  const partner = { h1: await h1(), id: await text('dl.facts dd code'), secret: await text('.secret-value code') };
  const partnerPage = `/admin/partners/${partner.id}`;
  await page.locator('#organization_id').selectOption(organization.id);
  await submit('Link');
  partner.linkedUrl = page.url();
  partner.linked = await page.locator('section[aria-labelledby="links"] tbody tr').allTextContents();
  out.partner = partner;

  // A link minted through the partner API, redeemed in the browser.
  const headers = {
    'x-partner-id': partner.id,
    'x-partner-secret': partner.secret,
    'x-organization-id': organization.id,
    'x-organization-secret': organization.secret,
    'x-user-id': user.id,
  };
  const minted = await mint(headers);
  out.mint = { status: minted.status };
  await page.goto(minted.body.data.redirect_url, { waitUntil: 'load', timeout: 15000 });
  out.redeemed = { url: page.url(), h1: await h1() };

  // The overview counts the accepted sign-in: its tiles and "The numbers" tables.
  await open('/admin');
  out.overview = {
    h1: await h1(),
    accepted: await text('#total-accepted'),
    redemption: await page.locator('#redemption-table tfoot td').allTextContents(),
    mint: await page.locator('#partner-mint-table tfoot td').allTextContents(),
  };
  await check('overview');

  // Disable the user: the next mint is refused, and the audit log says why.
  await open(user.url);
  await submit('Disable the user');
  out.disabled = { url: page.url(), status: await text('dl.facts dd:nth-of-type(4)') };
  const refused = await mint(headers);
  out.refusedMint = { status: refused.status, body: refused.body };
  await open('/admin/audit');
  await page.locator('#outcome').selectOption('refused');
  await submit('Filter');
  out.audit = {
    url: page.url(),
    rows: await page.locator('table tbody tr').evaluateAll((rows) =>
      rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent.trim()))),
  };
  await check('audit');

  // The partner page; a rotated secret is shown once, and not on the page opened again.
  await open(partnerPage);
  await check('partner');
  await submit('Rotate the secret');
  out.rotated = { url: page.url(), shown: await secretShown(), secret: await text('.secret-value code') };
  await open(partnerPage);
  out.reopened = { url: page.url(), h1: await h1(), shown: await secretShown() };

  // Signed out, the console refuses and sends the browser to sign in.
  await submit('Sign out');
  out.signedOut = { url: page.url(), h1: await h1() };
  await open('/admin/organizations');
  out.afterSignOut = { url: page.url(), h1: await h1() };
  process.stdout.write(JSON.stringify(out) + '\n');
} finally {
  await browser.close();
}

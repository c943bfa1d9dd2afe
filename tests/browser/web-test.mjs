// The signers' web page driven in Debian's Chromium (headless) through Playwright, against a
// local stack that tests/browser/run-web-test brought up, as a signer uses it:
//   login (by keyboard), activation (two different PINs refused, then the PIN and the TOTP
//   authenticator: the secret read from the page, the QR code decoded by zbarimg and matched
//   with it), the credentials list, a wrong one-time code (its message, nothing signed), two
//   documents signed with one PIN + OTP and both .p7s downloaded, an expired session (back to the
//   login with its message), wrong PINs until the credential locks (their messages), a
//   revoked certificate (its message), and the local stack's demo signer (no activation).
// Throughout: the page's security headers, no CSP violation or script error, no cookie and the
// access token in no storage, no failed asset.  Screenshots of the main screens and the
// downloads go to $QS_WEB_OUT; the caller verifies the signatures with openssl.
//
// Environment (all set by run-web-test): QS_NODE_MODULES (where `npm ci` installed
// playwright-core), QS_CHROMIUM, QS_WEB_URL, QS_WEB_SPKI (base64 SHA-256 of the server's public
// key, the only certificate Chromium accepts), QS_WEB_USER, QS_WEB_PASSWORD, QS_WEB_CODE (the
// activation code), QS_WEB_PIN, QS_WEB_USER_ID, QS_WEB_CREDENTIAL, QS_WEB_DOCS (two files,
// separated by ':'), QS_WEB_OUT, QS_QSIGN_LOCAL (deploy/qsign-local, QSIGN_VAR exported),
// QS_WEB_DEMO_USER and QS_WEB_DEMO_PASSWORD (from var/demo.json).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const TIMEOUT_MS = 60000;
const TOTP_PERIOD = 30;

function die(msg) {
  console.error(`web-test: FAILED: ${msg}`);
  process.exit(1);
}

function env(name) {
  const v = process.env[name];
  if (!v) {
    die(`${name} is not set`);
  }
  return v;
}

const require = createRequire(path.join(env('QS_NODE_MODULES'), 'package.json'));
const { chromium } = require('playwright-core');

const url = env('QS_WEB_URL');
const out = env('QS_WEB_OUT');
const user = env('QS_WEB_USER');
const password = env('QS_WEB_PASSWORD');
const pin = env('QS_WEB_PIN');
const docs = env('QS_WEB_DOCS').split(':');
const qsignLocal = env('QS_QSIGN_LOCAL');
const screenshots = [];
const problems = [];
const errorResponses = [];

function say(msg) {
  console.log(`web-test: ${msg}`);
}

function check(cond, msg) {
  if (!cond) {
    throw new Error(msg);
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- TOTP -------------------------------------------------------------------------------------

let lastStep = -1; // the last time step whose code was sent: a code is accepted once

function oathtool(secret, args = []) {
  return execFileSync('oathtool', ['--totp', '-b', ...args, secret], { encoding: 'utf8' })
    .trim().split('\n');
}

// The code of a time step later than any used so far (waiting for it, at most one period).
async function freshCode(secret) {
  for (;;) {
    const step = Math.floor(Date.now() / 1000 / TOTP_PERIOD);
    if (step > lastStep) {
      const code = oathtool(secret)[0];
      if (Math.floor(Date.now() / 1000 / TOTP_PERIOD) === step) {
        lastStep = step;
        return code;
      }
      continue; // the step turned while oathtool ran: take the new one
    }
    await sleep(250);
  }
}

// A 6-digit code that is none of the codes of the steps around now (the server accepts a small
// window), so it is wrong for certain.
function wrongCode(secret) {
  const now = Math.floor(Date.now() / 1000);
  const near = new Set(oathtool(secret, ['-w', '10', `--now=@${now - 5 * TOTP_PERIOD}`]));
  check(near.size >= 10, `oathtool printed ${near.size} codes for the window`);
  for (let n = 0; ; n++) {
    const c = String(n).padStart(6, '0');
    if (!near.has(c)) {
      return c;
    }
  }
}

// ---- The page ---------------------------------------------------------------------------------

async function shot(page, name) {
  const file = path.join(out, name);
  await page.screenshot({ path: file, fullPage: true });
  screenshots.push(file);
}

async function errorText(page) {
  return (await page.locator('#error').textContent()) || '';
}

// Waits until the error region says something containing `want` (a RegExp).
async function expectError(page, want, what) {
  try {
    await page.waitForFunction((re) => new RegExp(re, 'i').test(
      document.getElementById('error').textContent), want.source, { timeout: TIMEOUT_MS });
  } catch (e) {
    throw new Error(`${what}: the page shows "${await errorText(page)}", not /${want.source}/`);
  }
}

// The signing form: the documents, the PIN and the one-time code, then Sign.
async function submitSign(page, files, signingPin, otp) {
  await page.getByLabel('Documents to sign').setInputFiles(files);
  await page.getByLabel('Signing PIN', { exact: true }).fill(signingPin);
  await page.getByLabel('One-time code from the authenticator app').fill(otp);
  await page.getByRole('button', { name: 'Sign', exact: true }).click();
}

// Logs in with the keyboard only: the page puts the focus in the username field.
async function keyboardLogin(page, who = user, pw = password) {
  await page.locator('#view-login').waitFor({ state: 'visible', timeout: TIMEOUT_MS });
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  check(focused === 'login-username', `the login screen puts the focus on "${focused}"`);
  const login = page.waitForResponse((r) => r.url().endsWith('/csc/v2/auth/login'));
  await page.keyboard.press('Control+A'); // the username of an earlier session may be there
  await page.keyboard.type(who);
  await page.keyboard.press('Tab');
  await page.keyboard.press('Control+A');
  await page.keyboard.type(pw);
  await page.keyboard.press('Enter');
  const resp = await login;
  check(resp.status() === 200, `auth/login answered ${resp.status()}`);
  return (await resp.json()).access_token;
}

// The access token lives in a variable of the page only.
async function checkTokenKept(page, context, token) {
  const where = await page.evaluate((t) => {
    const found = [];
    for (const [name, s] of [['localStorage', localStorage], ['sessionStorage', sessionStorage]]) {
      if (s.length !== 0) {
        found.push(`${name} has ${s.length} item(s)`);
      }
      for (let i = 0; i < s.length; i++) {
        if ((s.getItem(s.key(i)) || '').includes(t)) {
          found.push(`${name} holds the token`);
        }
      }
    }
    if (document.cookie !== '') {
      found.push(`document.cookie is "${document.cookie}"`);
    }
    if (document.documentElement.outerHTML.includes(t)) {
      found.push('the document holds the token');
    }
    return found;
  }, token);
  check(where.length === 0, `the access token is kept outside memory: ${where.join('; ')}`);
  const cookies = await context.cookies();
  check(cookies.length === 0, `the browser holds ${cookies.length} cookie(s)`);
}

function operator(args) {
  return execFileSync(qsignLocal, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

// ---- The run ----------------------------------------------------------------------------------

async function run(browser) {
  const context = await browser.newContext({
    acceptDownloads: true,
    viewport: { width: 1100, height: 850 },
    locale: 'en-US',
  });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on('console', (m) => {
    // Failed requests are judged by their status below; anything else logged as an error
    // (a CSP or Trusted Types violation, a script error) is a problem.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console: ${m.text()}`);
    }
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    if (!r.url().startsWith('blob:')) {
      problems.push(`request failed: ${r.url()} ${r.failure() && r.failure().errorText}`);
    }
  });
  page.on('response', (r) => {
    if (r.status() >= 400) {
      errorResponses.push(`${r.status()} ${new URL(r.url()).pathname}`);
    }
  });

  // 1. The page and its headers.
  say(`opening ${url}`);
  const resp = await page.goto(url);
  check(resp.status() === 200, `GET / answered ${resp.status()}`);
  const h = resp.headers();
  const csp = h['content-security-policy'] || '';
  for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'",
    "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"]) {
    check(csp.includes(d), `the page's Content-Security-Policy lacks ${d}: "${csp}"`);
  }
  check(h['x-frame-options'] === 'DENY', `X-Frame-Options: ${h['x-frame-options']}`);
  check(h['x-content-type-options'] === 'nosniff', 'no X-Content-Type-Options: nosniff');
  check(h['referrer-policy'] === 'no-referrer', `Referrer-Policy: ${h['referrer-policy']}`);
  check(h['set-cookie'] === undefined, 'the page sets a cookie');
  check(await page.evaluate(() => window.isSecureContext && !!crypto.subtle),
    'the page is not a secure context with WebCrypto');
  check(await page.locator('#status').getAttribute('aria-live') === 'polite' &&
    await page.locator('#error').getAttribute('role') === 'alert',
  'the status and error regions are not live regions');
  await shot(page, '01-login.png');

  // 2. Login, by keyboard; the account is not activated yet.
  say(`logging in as ${user}`);
  const token = await keyboardLogin(page);
  await page.getByRole('heading', { name: 'Activate your account' }).waitFor();
  await checkTokenKept(page, context, token);

  // 3. Activation: two different PINs are refused before anything is sent, then it works.
  await page.getByLabel('Activation code').fill(env('QS_WEB_CODE'));
  await page.getByLabel('New signing PIN', { exact: true }).fill(pin);
  await page.getByLabel('The signing PIN again').fill(pin === '999999' ? '999998' : '999999');
  await page.getByRole('button', { name: 'Activate', exact: true }).click();
  await expectError(page, /two PINs differ/, 'different PINs');
  await page.getByLabel('The signing PIN again').fill(pin);
  await shot(page, '02-activate.png');
  await page.getByRole('button', { name: 'Activate', exact: true }).click();
  await page.getByRole('heading', { name: 'Add the authenticator' }).waitFor();
  const secret = ((await page.locator('#totp-secret').textContent()) || '').replace(/\s+/g, '');
  check(/^[A-Z2-7]{16,}$/.test(secret), `the page shows the secret "${secret}"`);
  const qr = path.join(out, 'qr.png');
  await page.locator('#qr svg').screenshot({ path: qr });
  const uri = execFileSync('zbarimg', ['--raw', '-q', qr], { encoding: 'utf8' }).trim();
  check(uri.startsWith('otpauth://totp/') && new URL(uri).searchParams.get('secret') === secret,
    `the QR code reads "${uri.replace(/secret=[A-Z2-7]+/, 'secret=...')}", not the secret shown`);
  say('activated: the QR code decodes to the otpauth URI of the secret shown as text');
  await shot(page, '03-enrol.png');

  // 4. The credentials.
  await page.getByRole('button', { name: /continue/ }).click();
  await page.getByRole('heading', { name: 'Your signing credentials' }).waitFor();
  const rows = page.locator('#credentials-body tr');
  check(await rows.count() === 1, `${await rows.count()} credentials listed, want 1`);
  const row = (await rows.first().locator('td').allInnerTexts()).join(' | ').replace(/\s+/g, ' ');
  check(/CN=Web Tester/.test(row) && /Valid/.test(row) && /\d{4}-\d\d-\d\d \d\d:\d\d UTC/.test(row),
    `the credential row says "${row}"`);
  check(await page.getByLabel(/Web Tester/).isChecked(), 'the credential is not chosen');
  say(`credentials: ${row.trim()}`);
  await shot(page, '04-credentials.png');

  // 5. A wrong one-time code: its message, nothing signed.
  await submitSign(page, docs, pin, wrongCode(secret));
  await expectError(page, /one-time code is wrong/, 'wrong OTP');
  check(await page.locator('#results').isHidden(), 'signature files offered after a wrong OTP');
  check(await page.getByLabel('Signing PIN', { exact: true }).inputValue() === '', 'the PIN stays in its field');
  say(`wrong OTP: "${await errorText(page)}"`);
  await shot(page, '05-wrong-otp.png');

  // 6. Two documents, one PIN + OTP, two .p7s files.
  await submitSign(page, docs, pin, await freshCode(secret));
  try {
    await page.locator('#downloads a').nth(docs.length - 1).waitFor({ timeout: TIMEOUT_MS });
  } catch (e) {
    throw new Error(`signing ${docs.length} documents: the page shows "${await errorText(page)}"` +
      ` and status "${await page.locator('#status').textContent()}"`);
  }
  const links = page.locator('#downloads a');
  check(await links.count() === docs.length, `${await links.count()} downloads offered`);
  fs.mkdirSync(path.join(out, 'downloads'), { recursive: true });
  for (let i = 0; i < docs.length; i++) {
    const want = path.basename(docs[i]) + '.p7s';
    const [download] = await Promise.all([page.waitForEvent('download'), links.nth(i).click()]);
    check(download.suggestedFilename() === want,
      `download ${i + 1} is named ${download.suggestedFilename()}, not ${want}`);
    const file = path.join(out, 'downloads', want);
    await download.saveAs(file);
    check(fs.statSync(file).size > 200, `${file} is too small to be a signature`);
    say(`downloaded ${file}`);
  }
  await shot(page, '06-signed.png');

  // 7. An expired session: back to the login screen with its message.
  operator(['psql', '-At', '-c', 'UPDATE qsign.access_tokens SET expires_at = now()' +
    ` WHERE user_id = '${env('QS_WEB_USER_ID')}'`]);
  await submitSign(page, [docs[0]], pin, wrongCode(secret));
  await expectError(page, /session has expired/, 'expired session');
  await page.locator('#view-login').waitFor({ state: 'visible' });
  check(await page.locator('#session').isHidden(), 'the session bar stays after expiry');
  say(`expired session: "${await errorText(page)}"`);
  await shot(page, '07-expired-session.png');

  // 8. Wrong PINs until the credential locks.
  await keyboardLogin(page);
  await page.getByRole('heading', { name: 'Your signing credentials' }).waitFor();
  const wrongPin = pin === '000000' ? '111111' : '000000';
  let locked = false;
  for (let i = 0; i < 8 && !locked; i++) {
    await submitSign(page, [docs[0]], wrongPin, wrongCode(secret));
    await expectError(page, /PIN is wrong|locked/, `wrong PIN ${i + 1}`);
    locked = /locked/.test(await errorText(page));
    check(locked || i < 7, 'the credential never locks');
    if (i === 0) {
      check(!locked, 'the credential locked at the first wrong PIN');
      say(`wrong PIN: "${await errorText(page)}"`);
    }
  }
  say(`locked: "${await errorText(page)}"`);
  await shot(page, '08-locked.png');

  // 9. A revoked certificate.
  operator(['ctl', 'cert', 'revoke', '--credential', env('QS_WEB_CREDENTIAL'), '--reason',
    'keyCompromise']);
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.locator('#view-login').waitFor({ state: 'visible' });
  await keyboardLogin(page);
  await page.getByRole('heading', { name: 'Your signing credentials' }).waitFor();
  const revokedRow = (await rows.first().locator('td').allInnerTexts()).join(' | ');
  check(/Certificate revoked/.test(revokedRow), `after revocation the row says "${revokedRow}"`);
  await submitSign(page, [docs[0]], pin, wrongCode(secret));
  await expectError(page, /certificate of this credential is revoked/, 'revoked certificate');
  say(`revoked: "${await errorText(page)}"`);
  await shot(page, '09-revoked.png');

  // 10. The demo signer of the local stack, as the README has it: enrolled by `up`, so the
  // page goes straight to its valid credential.
  await page.getByRole('button', { name: 'Log out' }).click();
  await keyboardLogin(page, env('QS_WEB_DEMO_USER'), env('QS_WEB_DEMO_PASSWORD'));
  await page.getByRole('heading', { name: 'Your signing credentials' }).waitFor();
  const demoRow = (await rows.first().locator('td').allInnerTexts()).join(' | ');
  check(/Demo Signer/.test(demoRow) && /Valid/.test(demoRow), `the demo signer's row: "${demoRow}"`);
  say(`demo signer: ${demoRow.replace(/\s+/g, ' ')}`);

  await context.close();
}

const browser = await chromium.launch({
  executablePath: env('QS_CHROMIUM'),
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    `--ignore-certificate-errors-spki-list=${env('QS_WEB_SPKI')}`,
  ],
});
let failure = null;
try {
  await run(browser);
} catch (e) {
  failure = e;
} finally {
  await browser.close();
}
for (const f of screenshots) {
  say(`screenshot ${f}`);
}
// The only error answers a run may see: the refused authorizations (400) and the expired
// session (401).
const unexpected = errorResponses.filter((r) => !/^400 \/csc\/v2\/credentials\/authorize$/.test(r) &&
  !/^401 \/csc\/v2\//.test(r));
if (unexpected.length > 0) {
  problems.push(`unexpected error answers: ${unexpected.join(', ')}`);
}
if (failure !== null) {
  die(`${failure.message}${problems.length ? `\n  also: ${problems.join('\n  also: ')}` : ''}`);
}
if (problems.length > 0) {
  die(problems.join('\n  '));
}
say(`passed: ${errorResponses.length} error answers, all expected (${errorResponses.join(', ')})`);

// The SPA and GraphiQL in headless Chromium against the real service (SQLite, outbox folder),
// reading the mail the service really wrote. Screenshots go to SCREENSHOT_DIR.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { gql, grants, mailsNow, nextMail, reportLink, signInOverApi, startService } from './service.mjs';

const screenshots = resolve(process.env.SCREENSHOT_DIR ?? join(import.meta.dirname, '../screenshots'));
mkdirSync(screenshots, { recursive: true });
console.log(`screenshots: ${screenshots}`);

let browser;
let service;
/** Every request the pages made that did not go to the service. */
const outside = [];

before(async () => {
  // checkLoginId is limited tightly so that RATE_LIMITED can be seen; the rest as shipped.
  service = await startService({ RATE_LIMITS: 'checkLoginId.client=3/600' });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await service?.stop();
  assert.deepEqual(outside, [], 'pages asked for something outside the service');
});

/** A fresh page (own storage) in `lang`; requests to anywhere but the service are refused. */
async function open(path, lang = 'en') {
  const context = await browser.newContext({ locale: lang === 'ko' ? 'ko-KR' : 'en-US', viewport: { width: 900, height: 900 } });
  await context.route('**/*', (route) => {
    if (route.request().url().startsWith(service.url)) return route.continue();
    outside.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  await page.goto(service.url + path);
  return page;
}

const shot = (page, name) => page.screenshot({ path: join(screenshots, `${name}.png`), fullPage: true });

/** The form that holds the element with this label. */
const form = (page, label) => page.locator('form', { has: page.getByLabel(label, { exact: true }) });

test('find my login ID by e-mail and by identity check', async () => {
  const page = await open('/find-id');
  const calls = graphqlCalls(page);
  await form(page, 'E-mail address').getByLabel('E-mail address').fill('mina@example.com');
  await form(page, 'E-mail address').getByRole('button').click();
  await page.getByTestId('accounts').getByText('mi*****rk').waitFor();

  // No raw ci in the product: the development service's demo box stands in for the provider.
  assert.equal(await page.locator('input[name="ci"]').count(), 0);
  const demo = page.getByTestId('identity-demo');
  await demo.getByText('Demo · development only').waitFor();
  await demo.getByLabel('Test ci').fill('CI-MINA');
  await demo.getByLabel('Nationality').selectOption('CITIZEN');
  await demo.getByRole('button', { name: 'Demo: sign a test identity check' }).click();
  await page.getByTestId('accounts').getByText('Mina Park').waitFor();
  const byIdentity = calls.filter((c) => c.includes('verifiedIdentity'));
  assert.equal(byIdentity.length, 1, 'findId took the signed assertion');
  assert.match(JSON.parse(byIdentity[0]).variables.by.verifiedIdentity.assertion, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.ok(!calls.some((c) => c.includes('"identity"')), 'the raw identity branch is not used');
  await shot(page, 'find-id');
  await page.context().close();

  // A host page with the hook: its button runs the host's check (here the development signer
  // plays the host's back end); no demo box, no probe.
  const hooked = await open('/sign-in');
  await hooked.addInitScript(() => {
    window.accountRecovery = {
      identityAssertion: (purpose) =>
        fetch('/dev/identity-assertion', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ci: 'CI-MINA', joinType: 'CITIZEN', purpose }),
        })
          .then((r) => r.json())
          .then((b) => b.assertion),
    };
  });
  const probes = [];
  hooked.on('request', (r) => r.url().includes('/dev/') && probes.push(r.method()));
  await hooked.goto(`${service.url}/find-id`);
  await hooked.getByRole('button', { name: 'Verify my identity' }).click();
  await hooked.getByTestId('accounts').getByText('Mina Park').waitFor();
  assert.equal(await hooked.getByTestId('identity-demo').count(), 0);
  assert.deepEqual(probes, ['POST'], 'only the hook asked for an assertion');
  await hooked.context().close();

  // Korean: the same box, marked as a demo.
  const ko = await open('/find-id', 'ko');
  await ko.getByTestId('identity-demo').getByText('데모 · 개발용').waitFor();
  await ko.getByRole('button', { name: '데모: 테스트 본인인증 서명' }).waitFor();
  await shot(ko, 'korean-find-id');
  await ko.context().close();
});

test('check a login ID, then RATE_LIMITED shows its retryAfter', async () => {
  const page = await open('/check-login-id');
  await page.getByLabel('Login ID').fill('mina.park');
  await page.getByRole('button', { name: 'Check' }).click();
  await page.getByText('This login ID exists. GENERAL. Its password can be reset; mail goes to mi**@ex*****.com').waitFor();
  await shot(page, 'check-login-id');
  // The limit is 3 per client address: the fourth check is refused with a wait.
  for (let i = 0; i < 3; i++) await page.getByRole('button', { name: 'Check' }).click();
  await page.getByText(/^Too many attempts\. Try again in \d+ seconds\.$/).waitFor();
  await shot(page, 'rate-limited');
  await page.context().close();
});

test('reset by the link in the mail', async () => {
  const page = await open('/reset-password');
  const before = mailsNow(service.outbox);
  await form(page, 'E-mail address').getByLabel('E-mail address').fill('mina@example.com');
  await form(page, 'E-mail address').getByRole('button').click();
  await page.getByText('a link and a code are on their way to mi**@ex*****.com').waitFor();
  const [grant] = grants(await nextMail(service.outbox, 'mina@example.com', before));
  assert.equal(grant.loginId, 'mina.park');

  // Links sent before tokens moved to the fragment carry them in the query: they still work.
  await page.goto(grant.link.replace('#token=', '?token='));
  await page.getByText('Choose a new password for mi*****rk').waitFor();
  assert.equal(new URL(page.url()).search, '', 'the query token leaves the address bar');
  await page.goto(grant.link);
  await page.getByText('Choose a new password for mi*****rk').waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the token leaves the address bar');
  await page.getByLabel('New password', { exact: true }).fill('Calm-River-58');
  await page.getByLabel('New password again').fill('Calm-River-58');
  await shot(page, 'reset-by-link');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Your password is changed. You can sign in now.').waitFor();
  await page.context().close();
});

test('reset by code: a refused password shows every rule and the grant stays usable', async () => {
  const page = await open('/reset-password');
  const before = mailsNow(service.outbox);
  await form(page, 'E-mail address').getByLabel('E-mail address').fill('family@example.com');
  await form(page, 'E-mail address').getByRole('button').click();
  const mailed = grants(await nextMail(service.outbox, 'family@example.com', before));
  assert.deepEqual(mailed.map((g) => g.loginId).sort(), ['joon.biz', 'joon.lee']);
  const lee = mailed.find((g) => g.loginId === 'joon.lee');

  await page.getByLabel('E-mail address or login ID').fill('joon.lee');
  await page.getByLabel('6-digit code').fill(lee.code);
  await page.getByRole('button', { name: 'Continue' }).click();
  const password = page.getByLabel('New password', { exact: true });
  await password.fill('aaa123');
  // The live checklist marks what the policy refuses as it is typed.
  await page.locator('.rules li.unmet', { hasText: '8 to 30 characters' }).waitFor();
  await page.getByLabel('New password again').fill('aaa123');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  const reported = page.locator('.field:has(input[name="newPassword"]) .errors li');
  await reported.first().waitFor();
  assert.deepEqual(
    (await reported.evaluateAll((lis) => lis.map((li) => li.dataset.code))).sort(),
    ['PASSWORD_REPEATED', 'PASSWORD_SEQUENTIAL', 'PASSWORD_TOO_SHORT'],
  );
  await shot(page, 'refused-password');

  await password.fill('Warm-Lantern-29');
  await page.getByLabel('New password again').fill('Warm-Lantern-29');
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Your password is changed. You can sign in now.').waitFor();

  // The other account of the address, by e-mail and its own code.
  const biz = mailed.find((g) => g.loginId === 'joon.biz');
  await page.goto(`${service.url}/reset-password`);
  await page.getByLabel('E-mail address or login ID').fill('family@example.com');
  await page.getByLabel('6-digit code').fill(biz.code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByText('Choose a new password for jo****iz').waitFor();
  await shot(page, 'reset-by-code');
  await page.context().close();
});

test('sign in and change the password with and without the current one', async () => {
  const page = await open('/sign-in');
  await page.getByLabel('Login ID').fill('mina.park');
  await page.getByLabel('Password').fill('Calm-River-58');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('login-id').getByText('mina.park').waitFor();
  await shot(page, 'account');

  await page.getByLabel('Current password', { exact: true }).fill('Calm-River-58');
  await page.getByLabel('New password', { exact: true }).fill('Bright-Stone-73');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText(/^Your password is changed\. It expires on /).waitFor();

  await page.getByLabel('Without it (confirm it is you first)').check();
  await page.getByLabel('Current password', { exact: true }).fill('Bright-Stone-73');
  await page.getByRole('button', { name: 'Confirm it is you' }).click();
  await page.getByText(/^Confirmed\./).waitFor();
  await page.getByLabel('New password', { exact: true }).fill('Silver-Cloud-94');
  await page.getByRole('button', { name: 'Change password' }).click();
  await page.getByText(/^Your password is changed\. It expires on /).waitFor();
  await shot(page, 'change-password');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByLabel('Login ID').fill('mina.park');
  await page.getByLabel('Password').fill('Silver-Cloud-94');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByTestId('login-id').getByText('mina.park').waitFor();
  await page.context().close();
});

test('an expired password is offered EXTEND', async () => {
  const page = await open('/sign-in');
  await page.getByLabel('Login ID').fill('old.timer');
  await page.getByLabel('Password').fill('Amber-Falcon-36');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('Your password has expired.', { exact: false }).waitFor();
  await page.getByLabel('Keep the current password').check();
  await page.getByRole('button', { name: 'Keep my current password' }).click();
  await page.getByText(/^Your password is kept until /).waitFor();
  await shot(page, 'extend');
  await page.context().close();
});

test('a session the service no longer knows sends the member to sign in', async () => {
  const page = await open('/sign-in');
  await page.evaluate(() =>
    sessionStorage.setItem('account-recovery.session', JSON.stringify({ token: 'revoked-or-made-up', passwordExpired: false })),
  );
  await page.goto(`${service.url}/account`);
  await page.waitForURL(`${service.url}/sign-in`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('account-recovery.session')), null);
  await page.context().close();
});

test('Korean: the UI and the service messages', async () => {
  const page = await open('/sign-in', 'ko');
  await page.getByRole('heading', { name: '로그인' }).waitFor();
  await page.getByLabel('아이디').fill('mina.park');
  await page.getByLabel('비밀번호').fill('Wrong-Guess-11');
  await page.getByRole('button', { name: '로그인' }).click();
  await page.getByText('아이디 또는 비밀번호가 올바르지 않습니다.').waitFor();
  await shot(page, 'korean-sign-in');

  // Switching the language re-renders in English and the service answers in English.
  await page.locator('#lang').selectOption('en');
  await page.getByLabel('Login ID').fill('mina.park');
  await page.getByLabel('Password').fill('Wrong-Guess-11');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('The login ID or password is wrong.').waitFor();
  await page.context().close();

  // A reset in Korean: the mail, and every refused rule under the field, in Korean.
  const reset = await open('/reset-password', 'ko');
  const before = mailsNow(service.outbox);
  await reset.getByLabel('이메일 주소', { exact: true }).fill('old@example.com');
  await reset.getByRole('button', { name: '보내기' }).click();
  const [grant] = grants(await nextMail(service.outbox, 'old@example.com', before));
  await reset.getByLabel('이메일 주소 또는 아이디').fill('old.timer');
  await reset.getByLabel('인증번호 6자리').fill(grant.code);
  await reset.getByRole('button', { name: '다음' }).click();
  await reset.getByLabel('새 비밀번호', { exact: true }).fill('aaa');
  await reset.getByLabel('새 비밀번호 확인').fill('aaa');
  await reset.getByRole('button', { name: '새 비밀번호 저장' }).click();
  const reported = reset.locator('.field:has(input[name="newPassword"]) .errors li');
  await reported.getByText('비밀번호가 너무 짧습니다.').waitFor();
  assert.equal(await reported.count(), 2, 'too short and repeated');
  await shot(reset, 'korean-refused-password');
  await reset.context().close();
});

const ME = 'query { me { loginId } }';
const CHANGE = `mutation($c: String!, $n: String!) {
  changePassword(input: {mode: WITH_CURRENT, currentPassword: $c, newPassword: $n}) { errors { code } }
}`;

/** Every /graphql request body `page` sends from now on. */
function graphqlCalls(page) {
  const calls = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/graphql') calls.push(r.postData() ?? '');
  });
  return calls;
}

test("that wasn't me: the link asks first, the report locks sign-in and mails a fresh reset", async () => {
  // Someone with sora's password changes it; the notice carries the report link.
  const before = mailsNow(service.outbox);
  const session = await signInOverApi(service, 'sora.kim', 'Tidy-Garden-51');
  const changed = await gql(service, CHANGE, { c: 'Tidy-Garden-51', n: 'Fresh-Meadow-62' }, session);
  assert.deepEqual(changed.data.changePassword.errors, [], JSON.stringify(changed));
  const link = reportLink(await nextMail(service.outbox, 'sora@example.com', before, /#report=/));
  assert.equal(new URL(link).pathname, '/reset-password');

  const page = await open('/sign-in');
  const calls = graphqlCalls(page);
  await page.goto(link);
  const button = page.getByRole('button', { name: "It wasn't me: lock my account" });
  await button.waitFor();
  await page.getByText('sign out every session of your account, on every device;').waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the report token leaves the address bar');
  await shot(page, 'report-ask');
  // Opening the link did nothing: no call, the session lives, the new password signs in.
  await page.waitForTimeout(300);
  assert.deepEqual(calls, []);
  assert.equal((await gql(service, ME, {}, session)).data.me.loginId, 'sora.kim');
  await signInOverApi(service, 'sora.kim', 'Fresh-Meadow-62');

  const beforeReport = mailsNow(service.outbox);
  await button.click();
  await page.getByTestId('reported').getByText(/are on their way to so\*\*@ex\*\*\*\*\*\.com\./).waitFor();
  assert.equal(calls.filter((c) => c.includes('reportUnrecognizedChange')).length, 1);
  await page.getByLabel('6-digit code').waitFor();
  await shot(page, 'report-done');
  const me = await gql(service, ME, {}, session);
  assert.equal(me.errors?.[0].extensions.code, 'UNAUTHENTICATED', 'every session is signed out');
  const [fresh] = grants(await nextMail(service.outbox, 'sora@example.com', beforeReport));
  assert.equal(fresh.loginId, 'sora.kim');

  // Until a reset, the password (right as it is) signs in no more.
  const signIn = await open('/sign-in');
  await signIn.getByLabel('Login ID').fill('sora.kim');
  await signIn.getByLabel('Password').fill('Fresh-Meadow-62');
  await signIn.getByRole('button', { name: 'Sign in' }).click();
  await signIn.getByText('The login ID or password is wrong.').waitFor();
  await signIn.context().close();

  // The fresh mail's code, on the same page, resets; the reset unlocks sign-in.
  await page.getByLabel('E-mail address or login ID').fill('sora.kim');
  await page.getByLabel('6-digit code').fill(fresh.code);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByLabel('New password', { exact: true }).fill('Solid-Bridge-84');
  await page.getByLabel('New password again').fill('Solid-Bridge-84');
  const beforeReset = mailsNow(service.outbox);
  await page.getByRole('button', { name: 'Set the new password' }).click();
  await page.getByText('Your password is changed. You can sign in now.').waitFor();
  await signInOverApi(service, 'sora.kim', 'Solid-Bridge-84');

  // The used link says so, and offers the usual reset.
  await page.goto(link);
  await button.click();
  await page.getByText('This link or token is invalid or has expired. Ask for a new one.').waitFor();
  await page.getByRole('link', { name: 'Reset the password another way' }).waitFor();
  await shot(page, 'report-spent');
  await page.context().close();

  // The reset's own notice has a new link; in Korean the page asks the same.
  const again = new URL(reportLink(await nextMail(service.outbox, 'sora@example.com', beforeReset, /#report=/)));
  assert.notEqual(again.href, link);
  const ko = await open(again.pathname + again.search + again.hash, 'ko');
  await ko.getByRole('button', { name: '제가 아닙니다: 계정 잠그기' }).waitFor();
  await ko.getByText('아직 아무 일도 일어나지 않았습니다.', { exact: false }).waitFor();
  await shot(ko, 'korean-report-ask');
  await ko.context().close();
});

test('recovery activity: newest first, strangers\' attempts included, older ones by "More"', async () => {
  // Its own service: 20+ sign-ins would pass the shared one's limits.
  const busy = await startService({ RATE_LIMITS: 'signIn.client=0/1,signIn.id=0/1' });
  try {
    // A stranger guesses yuri's password twice and asks for a reset of the address.
    for (const guess of ['Guess-One-11', 'Guess-Two-22']) {
      const body = await gql(busy, 'mutation($p: String!) { signIn(loginId: "yuri.han", password: $p) { errors { code } } }', { p: guess });
      assert.equal(body.data.signIn.errors[0].code, 'INVALID_CREDENTIALS');
    }
    // …and guesses a mailed code with the login ID: judged without looking the account up, yet
    // shown to the owner.
    const guess = await gql(busy, 'mutation { verifyResetToken(credential: {code: {loginId: "yuri.han", code: "000000"}}) { valid } }');
    assert.equal(guess.data.verifyResetToken.valid, false);
    const before = mailsNow(busy.outbox);
    await gql(busy, 'mutation { issueResetToken(by: {email: "yuri@example.com"}) { accepted } }');
    await nextMail(busy.outbox, 'yuri@example.com', before);
    // yuri, on another device, signs in many times and mistypes the password once when asked again.
    let other;
    for (let i = 0; i < 20; i++) other = await signInOverApi(busy, 'yuri.han', 'Velvet-Canyon-39');
    const wrong = await gql(busy, 'mutation { reauthenticate(password: "Velvet-Canyon-00") { errors { code } } }', {}, other);
    assert.equal(wrong.data.reauthenticate.errors[0].code, 'INVALID_CREDENTIALS', JSON.stringify(wrong));

    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    await page.goto(`${busy.url}/sign-in`);
    await page.getByLabel('Login ID').fill('yuri.han');
    await page.getByLabel('Password').fill('Velvet-Canyon-39');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Recovery activity' }).click();
    const rows = page.getByTestId('activity').locator('tbody tr');
    await rows.nth(19).waitFor();

    // What the service says, all at once, for the same session.
    const token = await page.evaluate(() => JSON.parse(sessionStorage.getItem('account-recovery.session')).token);
    const truth = await gql(
      busy,
      'query { me { recoveryActivity(first: 100) { edges { node { at kind outcome clientAddress } } } } }',
      {},
      token,
    );
    const all = truth.data.me.recoveryActivity.edges.map((e) => e.node);
    assert.ok(all.length > 20, `${all.length} events`);
    const shown = () =>
      rows.evaluateAll((trs) =>
        trs.map((tr) => ({
          at: tr.querySelector('time').getAttribute('datetime'),
          kind: tr.dataset.kind,
          outcome: tr.dataset.outcome,
          text: [...tr.cells].map((td) => td.textContent),
        })),
      );
    const first = await shown();
    assert.equal(first.length, 20, 'one page of 20');
    assert.deepEqual(first.map(({ at, kind, outcome }) => ({ at, kind, outcome })), all.slice(0, 20).map(({ at, kind, outcome }) => ({ at, kind, outcome })));
    assert.deepEqual(first[0].text.slice(1), ['Sign-in', 'succeeded', '127.0.0.0/24'], 'this sign-in comes first');
    assert.deepEqual(first[1].text.slice(1), ['Failed attempt', 'wrong password', '127.0.0.0/24']);
    await shot(page, 'activity');

    await page.getByRole('button', { name: 'More' }).click();
    await rows.nth(all.length - 1).waitFor();
    const everything = await shot(page, 'activity-more').then(shown);
    assert.deepEqual(everything.map(({ at, kind, outcome }) => ({ at, kind, outcome })), all.map(({ at, kind, outcome }) => ({ at, kind, outcome })));
    assert.equal(await page.getByRole('button', { name: 'More' }).isHidden(), true, 'no more pages');
    // The stranger's attempts are there, oldest last.
    const texts = everything.map((r) => r.text.slice(1).join(' | '));
    assert.deepEqual(texts.slice(-2), [
      'Sign-in | refused: wrong password, or sign-in locked | 127.0.0.0/24',
      'Sign-in | refused: wrong password, or sign-in locked | 127.0.0.0/24',
    ]);
    assert.equal(texts.at(-3), 'Failed attempt | wrong code | 127.0.0.0/24');
    assert.ok(texts.includes('Password reset requested | mail queued | 127.0.0.0/24'), texts.join('\n'));
    // When, in the reader's time zone and language (formatted by the browser, as the page does).
    const local = await page.evaluate((ats) => ats.map((at) => new Date(at).toLocaleString('en')), everything.map((r) => r.at));
    assert.deepEqual(everything.map((r) => r.text[0]), local);

    await page.locator('#lang').selectOption('ko');
    await page.getByRole('heading', { name: '계정 복구 기록' }).waitFor();
    await page.getByTestId('activity').getByText('틀린 비밀번호').waitFor();
    await shot(page, 'korean-activity');
    await page.locator('#lang').selectOption('en');
    await page.close();
  } finally {
    await busy.stop();
  }
});

const VERIFY_RECOVERY_CODE = `mutation($l: String!, $c: String!) {
  verifyResetToken(credential: {recoveryCode: {loginId: $l, code: $c}}) { valid errors { code field } }
}`;

test('recovery codes: generated after confirming the password, printed, copied, saved, then a reset without the mailbox', async () => {
  const page = await open('/sign-in');
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: service.url });
  await page.getByLabel('Login ID').fill('hana.choi');
  await page.getByLabel('Password').fill('Coral-Summit-26');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('(0 unused codes)').waitFor();
  await page.getByRole('link', { name: 'Recovery codes' }).click();
  await page.getByTestId('codes-left').getByText('0 unused codes').waitFor();
  await page.getByText('Generating new codes replaces the whole set').waitFor();

  // A wrong password makes no codes.
  const password = page.getByLabel('Current password', { exact: true });
  const generate = page.getByRole('button', { name: 'Generate 10 new codes' });
  await password.fill('Coral-Summit-00');
  await generate.click();
  await page.locator('.field:has(input[name="password"]) .errors li[data-code="INVALID_CREDENTIALS"]').waitFor();
  assert.equal(await page.getByTestId('codes').count(), 0);

  const before = mailsNow(service.outbox);
  await password.fill('Coral-Summit-26');
  await generate.click();
  const list = page.getByTestId('codes').locator('.code-list li');
  await list.nth(9).waitFor();
  const codes = await list.allTextContents();
  assert.equal(codes.length, 10);
  for (const code of codes) assert.match(code, /^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}$/);
  assert.equal(new Set(codes).size, 10);
  await page.getByTestId('codes-left').getByText('10 unused codes').waitFor();
  await nextMail(service.outbox, 'hana@example.com', before, /recovery codes were generated/i);
  await shot(page, 'recovery-codes');

  // Print: the button opens the dialog; the print stylesheet keeps the codes alone.
  await page.evaluate(() => {
    window.printed = 0;
    window.print = () => window.printed++;
  });
  await page.getByRole('button', { name: 'Print' }).click();
  assert.equal(await page.evaluate(() => window.printed), 1);
  await page.emulateMedia({ media: 'print' });
  assert.equal(await page.locator('header').isHidden(), true);
  assert.equal(await generate.isHidden(), true);
  assert.equal(await page.getByRole('button', { name: 'Print' }).isHidden(), true);
  assert.equal(await list.first().isVisible(), true);
  await shot(page, 'recovery-codes-print');
  await page.emulateMedia({ media: 'screen' });

  // Copy and download give the same ten codes as text.
  await page.getByRole('button', { name: 'Copy' }).click();
  await page.getByText('Copied.').waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download as .txt' }).click()]);
  assert.equal(download.suggestedFilename(), 'recovery-codes-hana.choi.txt');
  const saved = readFileSync(await download.path(), 'utf8');
  for (const text of [copied, saved]) {
    assert.match(text, /^Recovery codes for hana\.choi at http:\/\/127\.0\.0\.1:\d+, generated /);
    assert.deepEqual(text.match(/\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}\b/g), codes);
  }

  // Generating again replaces the set: the first codes stop working.
  await password.fill('Coral-Summit-26');
  await generate.click();
  await page.waitForFunction((old) => !document.querySelector('.code-list li')?.textContent?.includes(old), codes[0]);
  const fresh = await list.allTextContents();
  assert.equal(fresh.length, 10);
  assert.equal(fresh.filter((c) => codes.includes(c)).length, 0);
  const old = await gql(service, VERIFY_RECOVERY_CODE, { l: 'hana.choi', c: codes[0] });
  assert.equal(old.data.verifyResetToken.valid, false, JSON.stringify(old));
  await page.context().close();

  // Without the mailbox: login ID and a code, typed loosely (lower case, no hyphens).
  const reset = await open('/reset-password');
  const typed = fresh[3].toLowerCase().replaceAll('-', ' ');
  const useCode = async () => {
    await reset.getByLabel('Login ID', { exact: true }).fill('hana.choi');
    await reset.getByLabel('Recovery code').fill(typed);
    await reset.getByRole('button', { name: 'Use the recovery code' }).click();
  };
  await useCode();
  await reset.getByText('Choose a new password for').waitFor();
  await reset.getByLabel('New password', { exact: true }).fill('Lucky-Orchard-57');
  await reset.getByLabel('New password again').fill('Lucky-Orchard-57');
  await shot(reset, 'reset-by-recovery-code');
  await reset.getByRole('button', { name: 'Set the new password' }).click();
  await reset.getByText('Your password is changed. You can sign in now.').waitFor();
  const session = await signInOverApi(service, 'hana.choi', 'Lucky-Orchard-57');
  const left = await gql(service, 'query { me { recoveryCodesLeft } }', {}, session);
  assert.equal(left.data.me.recoveryCodesLeft, 9);

  // The code is spent.
  await reset.goto(`${service.url}/reset-password`);
  await useCode();
  await reset.locator('.field:has(input[name="recoveryCode"]) .errors li[data-code="INVALID_CODE"]').waitFor();
  await shot(reset, 'recovery-code-spent');
  await reset.context().close();

  // Korean: the codes screen and the reset screen's third way.
  const ko = await open('/sign-in', 'ko');
  await ko.getByLabel('아이디').fill('hana.choi');
  await ko.getByLabel('비밀번호').fill('Lucky-Orchard-57');
  await ko.getByRole('button', { name: '로그인' }).click();
  await ko.getByRole('link', { name: '복구 코드' }).click();
  await ko.getByTestId('codes-left').getByText('남은 코드 9개').waitFor();
  await shot(ko, 'korean-recovery-codes');
  await ko.goto(`${service.url}/reset-password`);
  await ko.getByRole('button', { name: '복구 코드 사용' }).waitFor();
  await shot(ko, 'korean-reset-password');
  await ko.context().close();
});

test('GraphiQL loads from the service and runs passwordPolicy', async () => {
  const page = await open('/graphql');
  await page.locator('.graphiql-container').waitFor();
  await page.getByText('passwordPolicy').first().waitFor();
  await page.locator('.graphiql-execute-button').click();
  await page.locator('.graphiql-response').getByText('"minLength": 8').waitFor();
  await shot(page, 'graphiql');
  await page.context().close();
});

// Introspection is exempt from the depth and complexity limits, so GraphiQL loads the schema.
test('GraphiQL loads the schema: the docs explorer lists Query and Mutation, the editor completes issueResetToken', async () => {
  const page = await open('/graphql');
  await page.locator('.graphiql-container').waitFor();
  await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
  const docs = page.locator('.graphiql-doc-explorer');
  await docs.locator('a.graphiql-doc-explorer-type-name', { hasText: /^Query$/ }).click();
  for (const field of ['findId', 'checkLoginId', 'passwordPolicy', 'me']) {
    await docs.locator('a.graphiql-doc-explorer-field-name', { hasText: new RegExp(`^${field}$`) }).waitFor();
  }
  await docs.locator('.graphiql-doc-explorer-back').click();
  await docs.locator('a.graphiql-doc-explorer-type-name', { hasText: /^Mutation$/ }).click();
  for (const field of ['issueResetToken', 'resetPassword', 'changePassword']) {
    await docs.locator('a.graphiql-doc-explorer-field-name', { hasText: new RegExp(`^${field}$`) }).waitFor();
  }
  await shot(page, 'graphiql-docs');
  assert.equal(await page.getByText('Error fetching schema').count(), 0);

  const editor = page.locator('.graphiql-query-editor .CodeMirror');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.press('Delete');
  await page.keyboard.type('mutation { issueRes');
  await page.locator('.CodeMirror-hints .CodeMirror-hint', { hasText: 'issueResetToken' }).waitFor();
  await shot(page, 'graphiql-completion');
  await page.context().close();
});

test('without a built SPA the mailed link opens the embedded page, which completes the reset', async () => {
  const bare = await startService({ WEB_DIR: join(service.outbox, 'no-build-here') });
  try {
    const before = mailsNow(bare.outbox);
    const asked = await fetch(`${bare.url}/graphql`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ query: 'mutation { issueResetToken(by: {email: "family@example.com"}) { accepted } }' }),
    }).then((r) => r.json());
    assert.equal(asked.data.issueResetToken.accepted, true);
    const mailed = grants(await nextMail(bare.outbox, 'family@example.com', before));

    const page = await browser.newPage();
    await page.goto(mailed.find((g) => g.loginId === 'joon.lee').link);
    await page.getByText('New password for jo****ee').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('abc');
    await page.getByLabel('New password again').fill('abc');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('The password is too short.').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('Gentle-Harbor-64');
    await page.getByLabel('New password again').fill('Gentle-Harbor-64');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('Your password is changed.').waitFor();
    await shot(page, 'embedded-reset-by-link');

    // The other account by its code.
    await page.goto(`${bare.url}/reset-password`);
    await page.getByLabel('E-mail address or login ID').fill('joon.biz');
    await page.getByLabel('Code').fill(mailed.find((g) => g.loginId === 'joon.biz').code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('New password for jo****iz').waitFor();
    await shot(page, 'embedded-reset-by-code');

    // joon.lee's notice: its "that wasn't me" link asks, and reports only from the button.
    const link = reportLink(await nextMail(bare.outbox, 'family@example.com', before, /#report=/));
    const calls = graphqlCalls(page);
    await page.goto(link);
    const button = page.getByRole('button', { name: "It wasn't me: lock my account" });
    await button.waitFor();
    assert.equal(new URL(page.url()).hash, '', 'the report token leaves the address bar');
    await page.waitForTimeout(300);
    assert.deepEqual(calls, []);
    await shot(page, 'embedded-report-ask');
    const beforeReport = mailsNow(bare.outbox);
    await button.click();
    await page.getByText(/^Done\. A fresh reset link and code are on their way to\s+fa\S*@ex\S*\.com\.$/).waitFor();
    assert.equal(calls.filter((c) => c.includes('reportUnrecognizedChange')).length, 1);
    const fresh = grants(await nextMail(bare.outbox, 'family@example.com', beforeReport));
    assert.deepEqual(fresh.map((g) => g.loginId), ['joon.lee']);
    await page.getByLabel('E-mail address or login ID').fill('joon.lee');
    await page.getByLabel('Code').fill(fresh[0].code);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByText('New password for jo****ee').waitFor();
    await shot(page, 'embedded-report-done');
    // Twice is refused.
    await page.goto(link);
    await button.click();
    await page.getByText('This link or token is invalid or has expired. Ask for a new one.').waitFor();
    await page.close();
  } finally {
    await bare.stop();
  }
});

test('with TRUSTED_DOCUMENTS the SPA works and nothing else runs', async () => {
  const locked = await startService({ TRUSTED_DOCUMENTS: resolve(import.meta.dirname, '../src/gql/persisted-documents.json') });
  try {
    const page = await browser.newPage();
    await page.goto(`${locked.url}/find-id`);
    await page.getByLabel('E-mail address', { exact: true }).fill('old@example.com');
    await page.getByRole('button', { name: 'Find' }).first().click();
    await page.getByTestId('accounts').getByText('ol*****er').waitFor();

    await page.goto(`${locked.url}/sign-in`);
    await page.getByLabel('Login ID').fill('old.timer');
    await page.getByLabel('Password').fill('Amber-Falcon-36');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('login-id').getByText('old.timer').waitFor();
    // The new-password rules come from passwordPolicy, a listed query too.
    await page.locator('.rules li', { hasText: '8 to 30 characters' }).waitFor();
    await shot(page, 'trusted-documents-account');

    const adHoc = await page.evaluate(() =>
      fetch('/graphql', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ query: '{ passwordPolicy { minLength } }' }),
      }).then(async (r) => ({ status: r.status, body: await r.json() })),
    );
    assert.equal(adHoc.status, 400);
    assert.equal(adHoc.body.errors[0].extensions.code, 'DOCUMENT_NOT_TRUSTED');
    assert.equal((await page.goto(`${locked.url}/graphql`)).status(), 405);
    await page.close();
  } finally {
    await locked.stop();
  }
});

/** A test assertion from the development signer, as the host's back end would hand it over. */
async function devAssertion(target, ci, purpose, joinType = 'CITIZEN') {
  const response = await fetch(`${target.url}/dev/identity-assertion`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ ci, joinType, purpose }),
  });
  assert.equal(response.status, 200, await response.clone().text());
  return (await response.json()).assertion;
}

test('reset by identity check: the demo signs, another person is refused, the direct token sets the password', async () => {
  // Its own service: mina's password changes here.
  const own = await startService();
  try {
    const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
    await page.goto(`${own.url}/reset-password`);
    await page.getByRole('heading', { name: 'I can verify my identity' }).waitFor();
    const demo = page.getByTestId('identity-demo');
    await page.getByLabel('Login ID to reset').fill('mina.park');

    // Someone else's identity check: refused, the same answer as for an unknown login ID.
    await demo.getByLabel('Test ci').fill('CI-SOMEONE-ELSE');
    await demo.getByRole('button', { name: 'Demo: sign a test identity check' }).click();
    await page.getByText('The identity check does not match this account.').waitFor();
    await shot(page, 'reset-by-identity-mismatch');

    await demo.getByLabel('Test ci').fill('CI-MINA');
    await demo.getByRole('button', { name: 'Demo: sign a test identity check' }).click();
    await page.getByText('Choose a new password for mi*****rk').waitFor();
    await page.getByLabel('New password', { exact: true }).fill('Steady-Compass-73');
    await page.getByLabel('New password again').fill('Steady-Compass-73');
    await shot(page, 'reset-by-identity');
    await page.getByRole('button', { name: 'Set the new password' }).click();
    await page.getByText('Your password is changed. You can sign in now.').waitFor();

    await page.getByRole('link', { name: 'Sign in' }).last().click();
    await page.getByLabel('Login ID').fill('mina.park');
    await page.getByLabel('Password').fill('Steady-Compass-73');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('login-id').getByText('mina.park').waitFor();

    // Handed over by a host in the address, with the login ID: the reset runs at once, and the
    // assertion leaves the address bar.
    const assertion = await devAssertion(own, 'CI-MINA', 'reset_password');
    const handed = await browser.newPage();
    await handed.goto(`${own.url}/reset-password#assertion=${assertion}&loginId=mina.park`);
    await handed.getByText('Choose a new password for mi*****rk').waitFor();
    assert.equal(new URL(handed.url()).hash, '', 'the assertion leaves the address bar');
    // It works once (about:blank first: a change of the fragment alone would not load the page).
    await handed.goto('about:blank');
    await handed.goto(`${own.url}/reset-password#assertion=${assertion}&loginId=mina.park`);
    await handed.getByText('The identity check could not be verified. Please verify your identity again.').waitFor();
    await handed.close();

    // Korean.
    const ko = await browser.newContext({ locale: 'ko-KR' }).then((c) => c.newPage());
    await ko.goto(`${own.url}/reset-password`);
    await ko.getByRole('heading', { name: '본인인증으로 재설정' }).waitFor();
    await ko.getByLabel('재설정할 아이디').fill('mina.park');
    await ko.getByTestId('identity-demo').getByLabel('테스트 ci').fill('CI-NOBODY');
    await ko.getByRole('button', { name: '데모: 테스트 본인인증 서명' }).click();
    await ko.getByText('본인인증 정보가 이 계정과 일치하지 않습니다.').waitFor();
    await shot(ko, 'korean-reset-by-identity');
    await ko.context().close();
    await page.close();
  } finally {
    await own.stop();
  }
});

test('a forged or garbage identity assertion in the address is refused as unverified', async () => {
  const page = await open('/find-id#assertion=not-a-real-assertion');
  await page.getByText('The identity check could not be verified. Please verify your identity again.').waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the assertion leaves the address bar');
  await shot(page, 'find-id-unverified');

  // A well-formed assertion whose claims were changed after signing (someone else's ci).
  const [header, payload, signature] = (await devAssertion(service, 'CI-MINA', 'reset_password')).split('.');
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString());
  const forged = [header, Buffer.from(JSON.stringify({ ...claims, ci: 'CI-SOMEONE' })).toString('base64url'), signature].join('.');
  await page.goto(`${service.url}/reset-password#assertion=${forged}&loginId=mina.park`);
  await page.getByText('The identity check could not be verified. Please verify your identity again.').waitFor();
  await page.context().close();

  const ko = await open('/find-id#assertion=eyJ.garbage.x', 'ko');
  await ko.getByText('본인인증 결과를 확인할 수 없습니다. 본인인증을 다시 진행해 주세요.').waitFor();
  await ko.context().close();

  // Where the development signer does not exist (a production service answers OPTIONS there
  // without `Allow: POST`), no demo box, and nothing failed in the console.
  const production = await browser.newPage();
  const errors = [];
  production.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  await production.route('**/dev/identity-assertion', (route) =>
    route.request().method() === 'OPTIONS' ? route.fulfill({ status: 200, body: '' }) : route.fulfill({ status: 404, body: '' }),
  );
  await production.goto(`${service.url}/find-id`);
  await production.getByText("The identity check starts on this site's own identity check page").waitFor();
  await production.waitForTimeout(300);
  assert.equal(await production.getByTestId('identity-demo').isHidden(), true);
  assert.deepEqual(errors, []);
  await production.close();
});

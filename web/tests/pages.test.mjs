// Every screen of the SPA and the embedded reset page, in English and in Korean, audited with
// axe-core in Chromium (0 violations of any impact), checked for horizontal scrolling at 360 px,
// and photographed at 360 and 1280 px into SCREENSHOT_DIR (`<name>-360.png`, `<name>-1280.png`).
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { gql, grants, mailsNow, nextMail, reportLink, startService } from './service.mjs';

const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
const screenshots = resolve(process.env.SCREENSHOT_DIR ?? join(import.meta.dirname, '../screenshots'));
mkdirSync(screenshots, { recursive: true });

const NARROW = 360;
const WIDE = 1280;

let browser;
let spa;
let bare;
const outside = [];

before(async () => {
  [spa, bare] = await Promise.all([startService(), startService({ WEB_DIR: join(import.meta.dirname, 'no-build-here') })]);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await Promise.all([spa?.stop(), bare?.stop()]);
  assert.deepEqual(outside, [], 'pages asked for something outside the service');
});

/**
 * A fresh context in `lang` (the browser's language, which both pages follow) on `service`.
 * bypassCSP lets addScriptTag inject axe; the pages' own scripts are same-origin files anyway.
 */
async function open(service, path, lang) {
  const context = await browser.newContext({
    locale: lang === 'ko' ? 'ko-KR' : 'en-US',
    viewport: { width: WIDE, height: 800 },
    bypassCSP: true,
  });
  await context.route('**/*', (route) => {
    if (route.request().url().startsWith(service.url)) return route.continue();
    outside.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  await page.goto(service.url + path);
  return page;
}

/** What axe and the 360 px check found on each screen, by name; every list must stay empty. */
class Audit {
  found = new Map();

  constructor(lang) {
    this.lang = lang;
  }

  /** Audits the page as it is at both widths and photographs it at both. */
  async screen(page, name) {
    const problems = [];
    const lang = await page.locator('html').getAttribute('lang');
    if (lang !== this.lang) problems.push(`<html lang="${lang}">, not ${this.lang}`);
    for (const width of [NARROW, WIDE]) {
      await page.setViewportSize({ width, height: 800 });
      await page.evaluate(() => document.fonts.ready);
      if (width === NARROW) {
        const scroll = await page.evaluate(() => document.documentElement.scrollWidth);
        if (scroll > NARROW) problems.push(`horizontal scroll at ${NARROW} px: ${scroll} px wide`);
      }
      problems.push(...(await axe(page)).map((v) => `${width} px: ${v}`));
      await page.screenshot({ path: join(screenshots, `${name}-${width}.png`), fullPage: true });
    }
    await page.setViewportSize({ width: WIDE, height: 800 });
    assert.ok(!this.found.has(name), `screen name ${name} used twice`);
    this.found.set(name, problems);
  }

  /** Fails with every problem of every screen, after the whole tour has been audited. */
  assertClean() {
    const dirty = [...this.found].filter(([, problems]) => problems.length);
    const counts = [...this.found].map(([name, problems]) => `${name}: ${problems.length}`).join(', ');
    console.log(`problems (axe, html lang, 360 px) per screen: ${counts}`);
    assert.deepEqual(
      dirty.map(([name, problems]) => `${name}\n  ${problems.join('\n  ')}`),
      [],
      `accessibility problems on ${dirty.length} of ${this.found.size} screens`,
    );
  }
}

/** axe-core's violations of any impact, each as "id (impact): the failing nodes' selectors". */
async function axe(page) {
  if (!(await page.evaluate(() => 'axe' in window))) await page.addScriptTag({ path: axePath });
  const violations = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ['violations'] })).violations);
  return violations.map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
}

/** The form that holds the element with this label. */
const form = (page, label) => page.locator('form', { has: page.getByLabel(label, { exact: true }) });

const TEXT = {
  en: {
    email: 'E-mail address',
    find: 'Find',
    loginId: 'Login ID',
    check: 'Check',
    password: 'Password',
    signIn: 'Sign in',
    send: 'Send',
    who: 'E-mail address or login ID',
    code: '6-digit code',
    verify: 'Continue',
    newPassword: 'New password',
    again: 'New password again',
    setPassword: 'Set the new password',
    done: 'Your password is changed. You can sign in now.',
    report: "It wasn't me: lock my account",
    activity: 'Recovery activity',
    codes: 'Recovery codes',
    currentPassword: 'Current password',
    generate: 'Generate 10 new codes',
    demoCi: 'Test ci',
    demoSign: 'Demo: sign a test identity check',
    noAccounts: 'No account uses this.',
    identityLoginId: 'Login ID to reset',
    identityMismatch: 'The identity check does not match this account.',
  },
  ko: {
    email: '이메일 주소',
    find: '찾기',
    loginId: '아이디',
    check: '확인',
    password: '비밀번호',
    signIn: '로그인',
    send: '보내기',
    who: '이메일 주소 또는 아이디',
    code: '인증번호 6자리',
    verify: '다음',
    newPassword: '새 비밀번호',
    again: '새 비밀번호 확인',
    setPassword: '새 비밀번호 저장',
    done: '비밀번호를 바꿨습니다. 이제 로그인할 수 있습니다.',
    report: '제가 아닙니다: 계정 잠그기',
    activity: '계정 복구 기록',
    codes: '복구 코드',
    currentPassword: '현재 비밀번호',
    generate: '새 코드 10개 만들기',
    demoCi: '테스트 ci',
    demoSign: '데모: 테스트 본인인증 서명',
    noAccounts: '이 정보로 가입된 계정이 없습니다.',
    identityLoginId: '재설정할 아이디',
    identityMismatch: '본인인증 정보가 이 계정과 일치하지 않습니다.',
  },
};

/** One member per language, so the two tours share no mail cooldowns or limits. */
const tourists = {
  en: { loginId: 'mina.park', email: 'mina@example.com', ci: 'CI-MINA' },
  ko: { loginId: 'sora.kim', email: 'sora@example.com', ci: 'CI-NOBODY' },
};

for (const lang of ['en', 'ko']) {
  test(`the SPA in ${lang}: every screen passes axe and fits 360 px`, async () => {
    const text = TEXT[lang];
    const me = tourists[lang];
    const audit = new Audit(lang);
    const shot = (page, name) => audit.screen(page, `${lang}-${name}`);

    const page = await open(spa, '/find-id', lang);
    const byEmail = form(page, text.email);
    await byEmail.getByLabel(text.email).fill(me.email);
    await byEmail.getByRole('button', { name: text.find }).click();
    await page.getByTestId('accounts').locator('li').first().waitFor();
    // By identity check: the development service's demo box signs the assertion.
    const demo = page.getByTestId('identity-demo');
    await demo.getByLabel(text.demoCi).fill(me.ci);
    await demo.getByRole('button', { name: text.demoSign }).click();
    await page.getByTestId('accounts').getByText(me.ci === 'CI-MINA' ? 'Mina Park' : text.noAccounts).waitFor();
    await shot(page, 'find-id');

    await page.getByRole('link', { name: lang === 'ko' ? '아이디 확인' : 'Check a login ID' }).click();
    await page.getByLabel(text.loginId).fill(me.loginId);
    await page.getByRole('button', { name: text.check }).click();
    await page.locator('.status.ok').waitFor();
    await shot(page, 'check-login-id');

    // An error state: a wrong password.
    await page.goto(`${spa.url}/sign-in`);
    await page.getByLabel(text.loginId).fill(me.loginId);
    await page.getByLabel(text.password).fill('Wrong-Guess-11');
    await page.getByRole('button', { name: text.signIn }).click();
    await page.locator('.status.error').waitFor();
    await shot(page, 'sign-in');

    // Signed-in screens without a session point to sign-in.
    await page.goto(`${spa.url}/account`);
    await page.getByRole('link', { name: text.signIn }).last().waitFor();
    await shot(page, 'account-signed-out');

    // The reset screen: ask for a mail (its three ways), then a wrong code under its field.
    await page.goto(`${spa.url}/reset-password`);
    const mailsBefore = mailsNow(spa.outbox);
    await form(page, text.email).getByLabel(text.email).fill(me.email);
    await form(page, text.email).getByRole('button', { name: text.send }).click();
    await form(page, text.email).locator('.status.ok').waitFor();
    const [grant] = grants(await nextMail(spa.outbox, me.email, mailsBefore));
    await page.getByLabel(text.who).fill(me.loginId);
    await page.getByLabel(text.code).fill(grant.code === '000000' ? '000001' : '000000');
    await page.getByRole('button', { name: text.verify }).click();
    await page.locator('.errors li, .status.error').first().waitFor();
    // …and someone else's identity check for this login ID.
    await page.getByLabel(text.identityLoginId).fill(me.loginId);
    await page.getByTestId('identity-demo').getByLabel(text.demoCi).fill('CI-SOMEONE-ELSE');
    await page.getByTestId('identity-demo').getByRole('button', { name: text.demoSign }).click();
    await page.getByText(text.identityMismatch).waitFor();
    await shot(page, 'reset-password');

    // The mailed link: the new-password step with refused rules, then done.
    await page.goto(grant.link);
    const newPassword = page.getByLabel(text.newPassword, { exact: true });
    await newPassword.fill('aaa123');
    await page.getByLabel(text.again).fill('aaa123');
    await page.getByRole('button', { name: text.setPassword }).click();
    await page.locator('.field .errors li').first().waitFor();
    await shot(page, 'reset-password-new-password');
    const fresh = 'Calm-River-58';
    await newPassword.fill(fresh);
    await page.getByLabel(text.again).fill(fresh);
    const beforeReset = mailsNow(spa.outbox);
    await page.getByRole('button', { name: text.setPassword }).click();
    await page.getByText(text.done).waitFor();
    await shot(page, 'reset-password-done');

    // "That wasn't me" from the reset's notice: the question, then the report and its code form.
    const report = reportLink(await nextMail(spa.outbox, me.email, beforeReset, /#report=/));
    await page.goto(report);
    await page.getByRole('button', { name: text.report }).waitFor();
    await shot(page, 'report-change');
    const beforeReport = mailsNow(spa.outbox);
    await page.getByRole('button', { name: text.report }).click();
    await page.getByTestId('reported').waitFor();
    await shot(page, 'report-change-done');
    const [again] = grants(await nextMail(spa.outbox, me.email, beforeReport));
    await page.getByLabel(text.who).fill(me.loginId);
    await page.getByLabel(text.code).fill(again.code);
    await page.getByRole('button', { name: text.verify }).click();
    await newPassword.fill('Bright-Stone-73');
    await page.getByLabel(text.again).fill('Bright-Stone-73');
    await page.getByRole('button', { name: text.setPassword }).click();
    await page.getByText(text.done).waitFor();

    // Signed in: the account, its activity and the recovery codes.
    await page.goto(`${spa.url}/sign-in`);
    await page.getByLabel(text.loginId).fill(me.loginId);
    await page.getByLabel(text.password).fill('Bright-Stone-73');
    await page.getByRole('button', { name: text.signIn }).click();
    await page.getByTestId('login-id').waitFor();
    await page.locator('.rules li').first().waitFor();
    await shot(page, 'account');

    await page.getByRole('link', { name: text.activity }).click();
    await page.getByTestId('activity').locator('tbody tr').first().waitFor();
    await shot(page, 'activity');

    await page.goto(`${spa.url}/account`);
    await page.getByRole('link', { name: text.codes }).click();
    await page.getByLabel(text.currentPassword, { exact: true }).fill('Bright-Stone-73');
    await page.getByRole('button', { name: text.generate }).click();
    await page.getByTestId('codes').locator('.code-list li').nth(9).waitFor();
    await shot(page, 'recovery-codes');
    await page.context().close();

    audit.assertClean();
  });

  test(`the embedded reset page in ${lang}: every step passes axe and fits 360 px`, async () => {
    const text = TEXT[lang];
    const me = tourists[lang];
    const audit = new Audit(lang);
    const shot = (page, name) => audit.screen(page, `embedded-${lang}-${name}`);

    const page = await open(bare, '/reset-password', lang);
    await page.getByLabel(text.who).waitFor();
    await shot(page, 'code-form');

    const before = mailsNow(bare.outbox);
    const asked = await gql(bare, `mutation { issueResetToken(by: {email: "${me.email}"}) { accepted } }`);
    assert.equal(asked.data.issueResetToken.accepted, true, JSON.stringify(asked));
    const [grant] = grants(await nextMail(bare.outbox, me.email, before));
    await page.goto(grant.link);
    const newPassword = page.getByLabel(text.newPassword, { exact: true });
    await newPassword.fill('abc');
    await page.getByLabel(text.again).fill('abc');
    await page.getByRole('button', { name: text.setPassword }).click();
    await page.locator('#errors li').first().waitFor();
    await shot(page, 'new-password');
    await newPassword.fill('Gentle-Harbor-64');
    await page.getByLabel(text.again).fill('Gentle-Harbor-64');
    const beforeReset = mailsNow(bare.outbox);
    await page.getByRole('button', { name: text.setPassword }).click();
    await page.locator('#done').waitFor();
    await shot(page, 'done');

    await page.goto(reportLink(await nextMail(bare.outbox, me.email, beforeReset, /#report=/)));
    await page.getByRole('button', { name: text.report }).waitFor();
    await shot(page, 'report-change');
    await page.getByRole('button', { name: text.report }).click();
    await page.locator('#reported').waitFor();
    await shot(page, 'report-change-done');
    await page.context().close();

    audit.assertClean();
  });
}

test('the focused control shows an outline', async () => {
  for (const [service, path] of [[spa, '/sign-in'], [bare, '/reset-password']]) {
    const page = await open(service, path, 'en');
    await page.locator('input').first().waitFor();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const outline = await page.evaluate(() => {
      const style = getComputedStyle(document.activeElement);
      return { tag: document.activeElement.tagName, style: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
    assert.notEqual(outline.style, 'none', `${path}: ${JSON.stringify(outline)}`);
    assert.ok(outline.width >= 2, `${path}: ${JSON.stringify(outline)}`);
    await page.context().close();
  }
});

test("the SPA's language switch re-renders in Korean, and the page still passes axe", async () => {
  const page = await open(spa, '/reset-password', 'en');
  await page.locator('#lang').selectOption('ko');
  await page.getByRole('heading', { name: '비밀번호 재설정', level: 1 }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'ko');
  assert.deepEqual(await axe(page), []);
  await page.context().close();
});

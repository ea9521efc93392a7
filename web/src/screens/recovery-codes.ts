// Saved recovery codes: for a member who loses the mailbox, 10 codes that each reset the password
// once. Generating needs an elevated session, so the form confirms the password (`reauthenticate`)
// and then calls `generateRecoveryCodes`; the codes are shown this once, to print, copy or save.
import { request } from '../api';
import { Form, h, when } from '../forms';
import { t } from '../i18n';
import { GenerateRecoveryCodesMutation, ReauthenticateMutation, RecoveryCodesLeftQuery } from '../operations';
import { signedInSection } from '../signed-in';

export function recoveryCodesScreen(go: (path: string) => void): Node {
  const text = t();
  return signedInSection(text.navRecoveryCodes, go, async (section) => {
    const left = h('strong', { 'data-testid': 'codes-left' });
    const count = async () => {
      const { me } = await request(RecoveryCodesLeftQuery);
      if (!me) return go('/sign-in');
      left.textContent = text.codesLeft(me.recoveryCodesLeft);
      return me;
    };
    const me = await count();
    if (!me) return;

    const form = new Form(text.generateCodes);
    // The form asks for the password every time: an elevated session is needed, and this keeps
    // the one place that shows codes from depending on how long ago the member reauthenticated.
    const password = form.input(text.currentPassword, 'password', 'password', 'password');
    const output = h('div', {});
    form.onSubmit(async () => {
      const { reauthenticate: r } = await request(ReauthenticateMutation, { password: password.value });
      if (r.errors.length) return r.errors;
      const { generateRecoveryCodes: g } = await request(GenerateRecoveryCodesMutation);
      if (g.codes) {
        password.value = '';
        output.replaceChildren(printable(me.loginId, g.codes));
        await count();
      }
      return g.errors;
    });

    section.append(
      h('p', {}, text.codesIntro),
      h('p', {}, text.codesLeftLabel, ' ', left),
      h('p', { class: 'status warning' }, text.codesReplace),
      form.element,
      output,
      h('p', {}, h('a', { href: '/account' }, text.navAccount)),
    );
  });
}

/** The new codes, the only time they are shown: a list the print stylesheet keeps alone. */
function printable(loginId: string, codes: readonly string[]): Node {
  const text = t();
  const made = when(new Date().toISOString());
  const plain = [text.codesFileHeader(loginId, location.origin, made), '', ...codes.map((c, i) => `${i + 1}. ${c}`), ''].join('\n');
  const status = h('p', { class: 'status', role: 'status' });

  const print = h('button', { type: 'button' }, text.print);
  print.addEventListener('click', () => window.print());
  const copy = h('button', { type: 'button' }, text.copy);
  copy.addEventListener('click', () =>
    navigator.clipboard.writeText(plain).then(
      () => ((status.textContent = text.copied), (status.className = 'status ok')),
      () => ((status.textContent = text.copyFailed), (status.className = 'status error')),
    ),
  );
  const download = h('button', { type: 'button' }, text.download);
  download.addEventListener('click', () => {
    const url = URL.createObjectURL(new Blob([plain], { type: 'text/plain;charset=utf-8' }));
    h('a', { href: url, download: `recovery-codes-${loginId}.txt` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  });

  return h(
    'div',
    { class: 'printable', 'data-testid': 'codes' },
    h('h2', {}, text.codesTitle),
    h('p', {}, text.codesFor(loginId, location.origin, made)),
    h('ol', { class: 'code-list' }, ...codes.map((code) => h('li', {}, h('code', {}, code)))),
    h('p', { class: 'status warning no-print' }, text.codesOnce),
    h('p', { class: 'actions no-print' }, print, ' ', copy, ' ', download),
    status,
  );
}

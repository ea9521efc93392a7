// Reset the password: from the mailed link (`#token=…`, or `?token=…` in links sent before), or by asking for a mail and typing its
// 6-digit code with the e-mail address or login ID. Either way a token ends up in the last form.
// Without the mailbox, a saved recovery code with the login ID does the same (spent once used),
// and so does an identity check of the owner: the login ID with a signed assertion (identity-proof.ts;
// handed over in `#assertion=…[&loginId=…]`, by the host's hook, or by the development demo box)
// makes `issueResetToken` return the token itself (channel DIRECT), which then goes through
// `verifyResetToken` like a mailed link's.
// A notice's "that wasn't me" link (`#report=…`) asks first, then leads to the code form.
import { request } from '../api';
import { Form, describeFailure, h } from '../forms';
import type { ResetCredential } from '../gql/graphql';
import { t } from '../i18n';
import { IdentityProof } from '../identity-proof';
import { IssueResetTokenMutation, ResetPasswordMutation, VerifyResetTokenMutation } from '../operations';
import { newPasswordField } from '../password-field';
import { reportChange } from './report-change';

export function resetPasswordScreen(): Node {
  const section = h('section', {}, h('h1', {}, t().navReset));
  // The fragment never reaches a server or its logs; the query form is that of older links.
  const fragment = new URLSearchParams(location.hash.slice(1));
  const query = new URLSearchParams(location.search);
  const token = fragment.get('token') ?? query.get('token');
  const report = fragment.get('report') ?? query.get('report');
  // A token leaves the address bar (history, screenshots); it lives on in this closure.
  if (token || report) history.replaceState(null, '', location.pathname);
  if (token) {
    const checking = h('p', { class: 'status', role: 'status' }, t().checkingLink);
    section.append(checking);
    void verify({ token }).then(
      (result) => checking.replaceWith(result),
      (error) => checking.replaceWith(h('p', { class: 'status error', role: 'alert' }, describeFailure(error))),
    );
  } else if (report) {
    // "That wasn't me": once reported, the fresh mail's code (or its link) continues the reset.
    section.append(
      reportChange(report, (maskedDestination) =>
        section.replaceChildren(
          h('h1', {}, t().navReset),
          h('p', { class: 'status ok', role: 'status', 'data-testid': 'reported' }, t().reported(maskedDestination)),
          codeForm(section),
        ),
      ),
    );
  } else if (fragment.has('assertion')) {
    // Back from the host's identity check: that path alone.
    section.append(identityForm(section));
  } else {
    section.append(requestMailForm(), codeForm(section), recoveryCodeForm(section), identityForm(section));
  }
  return section;
}

/** Checks a credential; a valid one opens the new-password form, an invalid one says why. */
async function verify(credential: ResetCredential): Promise<Node> {
  const { verifyResetToken: r } = await request(VerifyResetTokenMutation, { credential });
  if (!r.valid || !r.token) {
    return h('p', { class: 'status error', role: 'alert' }, r.errors.map((e) => e.message).join(' '));
  }
  return newPasswordForm(r.token, r.maskedLoginId ?? '');
}

function requestMailForm(): Node {
  const text = t();
  const form = new Form(text.send);
  const email = form.input(text.email, 'email', 'email', 'by.email');
  form.onSubmit(async () => {
    const { issueResetToken: r } = await request(IssueResetTokenMutation, { by: { email: email.value } });
    if (r.accepted) form.say(`${text.mailSent} ${r.maskedDestination}`);
    return r.errors;
  });
  return h('div', {}, h('h2', {}, text.requestMail), form.element);
}

function codeForm(section: HTMLElement): Node {
  const text = t();
  const form = new Form(text.verify);
  const identifier = form.input(text.emailOrLoginId, 'identifier', 'text', 'credential.code.email', 'credential.code.loginId');
  const code = form.input(text.code, 'code', 'text', 'credential.code', 'credential.code.code');
  code.inputMode = 'numeric';
  code.autocomplete = 'one-time-code';
  form.onSubmit(async () => {
    const who = identifier.value.trim();
    const credential = { code: { ...(who.includes('@') ? { email: who } : { loginId: who }), code: code.value.trim() } };
    const { verifyResetToken: r } = await request(VerifyResetTokenMutation, { credential });
    if (r.valid && r.token) section.replaceChildren(h('h1', {}, text.navReset), newPasswordForm(r.token, r.maskedLoginId ?? ''));
    return r.errors;
  });
  return h('div', {}, h('h2', {}, text.haveCode), form.element);
}

/** Without the mailbox: the login ID and one of the saved recovery codes (spent once verified). */
function recoveryCodeForm(section: HTMLElement): Node {
  const text = t();
  const form = new Form(text.useRecoveryCode);
  const loginId = form.input(text.loginId, 'recoveryLoginId', 'text', 'credential.recoveryCode.loginId');
  const code = form.input(text.recoveryCode, 'recoveryCode', 'text', 'credential.recoveryCode', 'credential.recoveryCode.code');
  code.autocapitalize = 'characters';
  code.spellcheck = false;
  form.onSubmit(async () => {
    const credential = { recoveryCode: { loginId: loginId.value.trim(), code: code.value.trim() } };
    const { verifyResetToken: r } = await request(VerifyResetTokenMutation, { credential });
    if (r.valid && r.token) section.replaceChildren(h('h1', {}, text.navReset), newPasswordForm(r.token, r.maskedLoginId ?? ''));
    return r.errors;
  });
  return h('div', {}, h('h2', {}, text.haveRecoveryCode), h('p', {}, text.recoveryCodeHint), form.element);
}

/** Without the mailbox: the login ID and an identity check of its owner (a signed assertion). */
function identityForm(section: HTMLElement): Node {
  const text = t();
  const form = new Form(text.verifyIdentity);
  const loginId = form.input(text.identityLoginId, 'identityLoginId', 'text', 'by.verifiedIdentity.loginId');
  loginId.autocomplete = 'username';
  const proof = new IdentityProof('reset_password', form.element);
  form.onSubmit(async () => {
    const assertion = await proof.take();
    const by = { verifiedIdentity: { loginId: loginId.value.trim(), assertion } };
    const { issueResetToken: r } = await request(IssueResetTokenMutation, { by });
    proof.settle(r.errors);
    // The direct token is checked like a mailed link's, which also names the account.
    if (r.channel === 'DIRECT' && r.token) section.replaceChildren(h('h1', {}, text.navReset), await verify({ token: r.token }));
    return r.errors;
  });
  const handed = proof.handedOver;
  if (handed) {
    loginId.value = handed.loginId ?? '';
    if (handed.loginId) proof.submitSoon();
    else form.say(text.identityChecked);
  }
  return h('div', {}, h('h2', {}, text.resetByIdentity), h('p', {}, text.resetByIdentityHint), form.element, proof.element);
}

function newPasswordForm(token: string, maskedLoginId: string): Node {
  const text = t();
  const form = new Form(text.setPassword);
  const password = newPasswordField(form, 'input.newPassword');
  const confirmation = form.input(text.confirmPassword, 'newPasswordConfirmation', 'password', 'input.newPasswordConfirmation');
  confirmation.autocomplete = 'new-password';
  form.onSubmit(async () => {
    const { resetPassword: r } = await request(ResetPasswordMutation, {
      input: { credential: { token }, newPassword: password.value, newPasswordConfirmation: confirmation.value },
    });
    if (r.member) {
      form.element.replaceWith(h('p', { class: 'status ok', role: 'status' }, text.resetDone, ' ', h('a', { href: '/sign-in' }, text.signIn)));
    }
    return r.errors;
  });
  return h('div', {}, h('p', {}, text.resetFor, ' ', h('strong', {}, maskedLoginId)), form.element);
}

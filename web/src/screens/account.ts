// The signed-in member: profile, sign out, and changePassword in its three modes —
// WITH_CURRENT, WITHOUT_CURRENT (after reauthenticate, or right after a reset) and EXTEND
// (offered when sign-in said the password has expired).
import { request } from '../api';
import { Form, h, when } from '../forms';
import type { ChangePasswordMode, MeQuery as MeResult, ProfileFragment } from '../gql/graphql';
import { t } from '../i18n';
import { ChangePasswordMutation, MeQuery, ReauthenticateMutation, SignOutMutation } from '../operations';
import { newPasswordField } from '../password-field';
import { keepSession, passwordExpired, sessionToken } from '../session';
import { signedInSection } from '../signed-in';

export function accountScreen(go: (path: string) => void): Node {
  return signedInSection(t().navAccount, go, async (section) => {
    const { me } = await request(MeQuery);
    if (!me) return go('/sign-in');
    section.append(profile(me, go), changePassword(me));
  });
}

function profile(me: NonNullable<MeResult['me']>, go: (path: string) => void): Node {
  const text = t();
  const signOut = h('button', { type: 'button' }, text.signOut);
  signOut.addEventListener('click', async () => {
    await request(SignOutMutation).catch(() => undefined); // the session is gone either way
    keepSession(null);
    go('/sign-in');
  });
  return h(
    'div',
    { class: 'profile' },
    h('p', {}, `${text.signedInAs} `, h('strong', { 'data-testid': 'login-id' }, me.loginId), ` (${me.name}, ${me.maskedEmail}, ${me.memberType})`),
    h('p', {}, `${text.passwordChanged}: ${when(me.passwordChangedAt)} · ${me.activeSessions} ${text.sessions}`),
    h(
      'p',
      { class: 'links' },
      h('a', { href: '/account/activity' }, text.navActivity),
      ' · ',
      h('a', { href: '/account/recovery-codes' }, text.navRecoveryCodes),
      ` (${text.codesLeft(me.recoveryCodesLeft)})`,
    ),
    signOut,
  );
}

function changePassword(me: ProfileFragment): Node {
  const text = t();
  const modes: [ChangePasswordMode, string][] = [
    ['WITH_CURRENT', text.modeWithCurrent],
    ['WITHOUT_CURRENT', text.modeWithoutCurrent],
    ...(passwordExpired() ? ([['EXTEND', text.modeExtend]] as [ChangePasswordMode, string][]) : []),
  ];
  const panel = h('div', {});
  const choose = (mode: ChangePasswordMode) => panel.replaceChildren(...modeForms(mode, me));
  const picker = h(
    'fieldset',
    { class: 'modes' },
    h('legend', {}, text.change),
    ...modes.map(([mode, label], i) => {
      const radio = h('input', { type: 'radio', name: 'mode', value: mode, checked: i === 0 });
      radio.addEventListener('change', () => choose(mode));
      return h('label', {}, radio, label);
    }),
  );
  choose(modes[0][0]);
  return h('div', {}, passwordExpired() ? h('p', { class: 'status warning' }, text.expired) : null, picker, panel);
}

function modeForms(mode: ChangePasswordMode, me: ProfileFragment): Node[] {
  const text = t();
  const forms: Node[] = [];
  if (mode === 'WITHOUT_CURRENT') {
    const reauth = new Form(text.reauthenticate);
    const password = reauth.input(text.currentPassword, 'reauthPassword', 'password', 'password');
    reauth.onSubmit(async () => {
      const { reauthenticate: r } = await request(ReauthenticateMutation, { password: password.value });
      if (r.elevatedUntil) reauth.say(`${text.reauthenticated} ${when(r.elevatedUntil)}`);
      return r.errors;
    });
    forms.push(reauth.element);
  }
  const form = new Form(mode === 'EXTEND' ? text.extend : text.change);
  const current = mode === 'WITH_CURRENT' ? form.input(text.currentPassword, 'currentPassword', 'password', 'input.currentPassword') : undefined;
  const next = mode === 'EXTEND' ? undefined : newPasswordField(form, 'input.newPassword', () => me.loginId);
  form.onSubmit(async () => {
    const { changePassword: r } = await request(ChangePasswordMutation, {
      input: { mode, currentPassword: current?.value, newPassword: next?.value },
    });
    if (r.passwordExpiresAt) {
      keepSession({ token: sessionToken() ?? '', passwordExpired: false });
      form.say(`${mode === 'EXTEND' ? text.extended : text.changed} ${when(r.passwordExpiresAt)}`);
    }
    return r.errors;
  });
  forms.push(form.element);
  return forms;
}

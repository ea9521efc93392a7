// Sign in with login ID and password; the account screen takes over from there.
import { request } from '../api';
import { Form, h } from '../forms';
import { t } from '../i18n';
import { SignInMutation } from '../operations';
import { keepDevice, keepSession } from '../session';

export function signInScreen(go: (path: string) => void): Node {
  const text = t();
  const form = new Form(text.signIn);
  const loginId = form.input(text.loginId, 'loginId', 'text', 'loginId');
  // A refused sign-in names no field: which of the two was wrong is not told.
  const password = form.input(text.password, 'password', 'password');
  form.onSubmit(async () => {
    const { signIn: r } = await request(SignInMutation, { loginId: loginId.value, password: password.value });
    if (r.accessToken) {
      keepSession({ token: r.accessToken, passwordExpired: r.passwordExpired });
      keepDevice(r.deviceToken);
      go('/account');
    }
    return r.errors;
  });
  return h('section', {}, h('h1', {}, text.navSignIn), form.element);
}

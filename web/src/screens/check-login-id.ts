// Check a login ID: does it exist, and can its password be reset.
import { request } from '../api';
import { Form, h } from '../forms';
import { t } from '../i18n';
import { CheckLoginIdQuery } from '../operations';

export function checkLoginIdScreen(): Node {
  const text = t();
  const form = new Form(text.check);
  const loginId = form.input(text.loginId, 'loginId', 'text', 'loginId');
  form.onSubmit(async () => {
    const { checkLoginId: r } = await request(CheckLoginIdQuery, { loginId: loginId.value });
    if (!r.errors.length) {
      const reset = r.canResetPassword ? `${text.canReset} ${r.maskedEmail}` : text.cannotReset;
      form.say(r.exists ? `${text.exists} ${r.memberType}. ${reset}` : text.doesNotExist);
    }
    return r.errors;
  });
  return h('section', {}, h('h1', {}, text.navCheckId), form.element);
}

// The new-password control: a checklist of the site's rules that updates as the user types.
import { request } from './api';
import { type Form, h } from './forms';
import { t } from './i18n';
import { PasswordPolicyQuery } from './operations';
import { checkRules, type Policy } from './password-rules';

let policy: Promise<Policy> | undefined;
const loadPolicy = () => (policy ??= request(PasswordPolicyQuery).then((d) => d.passwordPolicy));

/** Adds the field to `form`; its server-reported rule errors come back on `path`. */
export function newPasswordField(form: Form, path: string, loginId?: () => string): HTMLInputElement {
  const input = h('input', { name: 'newPassword', type: 'password', autocomplete: 'new-password' });
  const rules = h('ul', { class: 'rules' });
  form.field(t().newPassword, input, path);
  input.parentElement?.append(rules);

  void loadPolicy().then((p) => {
    const text = t();
    const items = {
      length: h('li', {}, text.ruleLength(p.minLength, p.maxLength)),
      whitespace: p.forbidWhitespace ? h('li', {}, text.ruleWhitespace) : null,
      sequential: p.maxSequentialRun ? h('li', {}, text.ruleSequential(p.maxSequentialRun)) : null,
      repeated: p.maxRepeatedRun ? h('li', {}, text.ruleRepeated(p.maxRepeatedRun)) : null,
      loginId: h('li', {}, text.ruleLoginId),
    };
    // Checked only by the service; listed so the user knows of them.
    rules.append(
      ...Object.values(items).filter((li) => li !== null),
      h('li', { class: 'server' }, text.ruleHistory(p.historySize)),
      h('li', { class: 'server' }, text.ruleCommon),
    );
    const update = () => {
      const met = checkRules(p, input.value, loginId?.());
      for (const [rule, li] of Object.entries(items)) {
        li?.classList.toggle('met', input.value !== '' && met[rule as keyof typeof met]);
        li?.classList.toggle('unmet', input.value !== '' && !met[rule as keyof typeof met]);
      }
    };
    input.addEventListener('input', update);
    update();
  }, () => {
    policy = undefined; // try again on the next screen; the service still checks every rule
  });
  return input;
}

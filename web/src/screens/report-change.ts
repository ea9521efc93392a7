// "That wasn't me": the link of a password-changed notice, `/reset-password#report=…`. Opening it
// does nothing by itself (mail scanners follow links): the member reads what the report does and
// presses the button; `reportUnrecognizedChange` then locks the account and mails a fresh reset,
// whose code the reset screen takes next.
import { request } from '../api';
import { Form, h } from '../forms';
import { t } from '../i18n';
import { ReportUnrecognizedChangeMutation } from '../operations';

/** The question and its button; `reported` gets where the fresh reset mail went. */
export function reportChange(token: string, reported: (maskedDestination: string) => void): Node {
  const text = t();
  const form = new Form(text.reportButton);
  const spent = h('p', { hidden: true }, h('a', { href: '/reset-password' }, text.reportOtherWay));
  form.onSubmit(async () => {
    const { reportUnrecognizedChange: r } = await request(ReportUnrecognizedChangeMutation, { token });
    if (r.locked) reported(r.maskedDestination ?? '');
    // A used or expired link: the reset screen still works the usual way.
    spent.hidden = !r.errors.some((e) => e.code === 'INVALID_TOKEN');
    return r.errors;
  });
  return h(
    'div',
    { class: 'report', 'data-testid': 'report' },
    h('h2', {}, text.reportTitle),
    h('p', {}, text.reportIntro),
    h('ul', {}, ...text.reportEffects.map((effect) => h('li', {}, effect))),
    h('p', {}, h('strong', {}, text.reportNothingYet)),
    form.element,
    spent,
  );
}

// Find my login ID: by e-mail address, or by a just-passed identity check. The identity check
// reaches this screen as a signed assertion (identity-proof.ts: the host hands it over in
// `#assertion=…` or through its `window.accountRecovery` hook; the demo box on a development
// service); the user never types a raw `ci`.
import { request } from '../api';
import { Form, h, when } from '../forms';
import type { FindIdQuery as FindIdResult } from '../gql/graphql';
import { t } from '../i18n';
import { IdentityProof } from '../identity-proof';
import { FindIdQuery } from '../operations';

export function findIdScreen(): Node {
  const text = t();
  const results = h('ul', { class: 'results', 'data-testid': 'accounts' });
  const show = ({ findId }: FindIdResult) => {
    results.replaceChildren(
      ...(findId.errors.length || findId.accounts.length
        ? findId.accounts.map((a) =>
            h('li', {}, h('strong', {}, a.maskedLoginId), ` ${a.memberType} · ${text.joined} ${when(a.joinedAt)}`, a.name ? ` · ${a.name}` : ''),
          )
        : [h('li', {}, text.noAccounts)]),
    );
    return findId.errors;
  };

  const byEmail = new Form(text.find);
  const email = byEmail.input(text.email, 'email', 'email', 'by.email');
  byEmail.onSubmit(async () => show(await request(FindIdQuery, { by: { email: email.value } })));

  // The assertion carries the ci and join type: the form itself has no fields.
  const byIdentity = new Form(text.verifyIdentity);
  const proof = new IdentityProof('find_id', byIdentity.element);
  byIdentity.onSubmit(async () => {
    const assertion = await proof.take();
    const answer = await request(FindIdQuery, { by: { verifiedIdentity: { assertion } } });
    proof.settle(answer.findId.errors);
    return show(answer);
  });
  if (proof.handedOver) proof.submitSoon();

  return h(
    'section',
    {},
    h('h1', {}, text.navFindId),
    h('h2', {}, text.findByEmail),
    byEmail.element,
    h('h2', {}, text.findByIdentity),
    proof.element,
    byIdentity.element,
    results,
  );
}

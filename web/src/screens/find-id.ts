// Find my login ID: by e-mail address, or by a just-passed identity check (ci + join type).
import { request } from '../api';
import { Form, h, when } from '../forms';
import type { FindIdQuery as FindIdResult, JoinType } from '../gql/graphql';
import { t } from '../i18n';
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

  const byIdentity = new Form(text.find);
  const ci = byIdentity.input(text.ci, 'ci', 'text', 'by.identity.ci');
  const joinType = byIdentity.field(
    text.joinType,
    h('select', { name: 'joinType' }, h('option', { value: 'CITIZEN' }, text.CITIZEN), h('option', { value: 'FOREIGN' }, text.FOREIGN)),
    'by.identity.joinType',
  );
  byIdentity.onSubmit(async () =>
    show(await request(FindIdQuery, { by: { identity: { ci: ci.value, joinType: joinType.value as JoinType } } })),
  );

  return h(
    'section',
    {},
    h('h1', {}, text.navFindId),
    h('h2', {}, text.findByEmail),
    byEmail.element,
    h('h2', {}, text.findByIdentity),
    byIdentity.element,
    results,
  );
}

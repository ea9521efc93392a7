// The member's recovery activity: their own audit events, newest first — strangers' reset
// requests and wrong attempts against the account included — 20 at a time, "More" for older.
import { request } from '../api';
import { describeFailure, h, when } from '../forms';
import { t } from '../i18n';
import { RecoveryActivityQuery } from '../operations';
import { signedInSection, signedOut } from '../signed-in';

const PAGE = 20;

export function activityScreen(go: (path: string) => void): Node {
  const text = t();
  return signedInSection(text.navActivity, go, async (section) => {
    const rows = h('tbody', {});
    const table = h(
      'table',
      { class: 'activity', 'data-testid': 'activity' },
      h('thead', {}, h('tr', {}, ...[text.activityWhen, text.activityWhat, text.activityOutcome, text.activityFrom].map((c) => h('th', { scope: 'col' }, c)))),
      rows,
    );
    const more = h('button', { type: 'button', hidden: true }, text.more);
    const status = h('p', { class: 'status', role: 'status' });
    let after: string | null = null;

    const load = async () => {
      const { me } = await request(RecoveryActivityQuery, { first: PAGE, after });
      if (!me) return go('/sign-in');
      const { edges, pageInfo } = me.recoveryActivity;
      rows.append(
        ...edges.map(({ node }) =>
          h(
            'tr',
            { 'data-kind': node.kind, 'data-outcome': node.outcome },
            h('td', {}, h('time', { datetime: node.at }, when(node.at))),
            h('td', {}, text.eventKinds[node.kind]),
            h('td', {}, text.outcomes[node.outcome] ?? node.outcome),
            // Named again for narrow screens, where the rows stack and the header row is hidden.
            h('td', { 'data-label': text.activityFrom }, node.clientAddress ?? '—'),
          ),
        ),
      );
      after = pageInfo.endCursor ?? after;
      more.hidden = !pageInfo.hasNextPage;
      table.hidden = rows.childElementCount === 0;
      if (table.hidden) status.textContent = text.noActivity;
    };
    more.addEventListener('click', async () => {
      more.disabled = true;
      status.textContent = '';
      try {
        await load();
      } catch (error) {
        if (!signedOut(error, go)) {
          status.textContent = describeFailure(error);
          status.className = 'status error';
        }
      } finally {
        more.disabled = false;
      }
    });

    await load();
    section.append(h('p', {}, text.activityIntro), table, more, status, h('p', {}, h('a', { href: '/account' }, text.navAccount)));
  });
}

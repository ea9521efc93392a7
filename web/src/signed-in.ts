// The frame of a signed-in member's screen: without a session it points to sign-in; a session the
// service no longer knows (signed out by a reset, a change elsewhere, a "that wasn't me" report)
// sends the member to sign in again.
import { RequestFailed } from './api';
import { describeFailure, h } from './forms';
import { t } from './i18n';
import { keepSession, sessionToken } from './session';

/** A section titled `title`; `fill` makes the screen's requests and adds what they return. */
export function signedInSection(title: string, go: (path: string) => void, fill: (section: HTMLElement) => Promise<void>): HTMLElement {
  const section = h('section', {}, h('h1', {}, title));
  if (!sessionToken()) {
    section.append(h('p', {}, t().notSignedIn, ' ', h('a', { href: '/sign-in' }, t().signIn)));
    return section;
  }
  void fill(section).catch((error) => {
    if (signedOut(error, go)) return;
    section.append(h('p', { class: 'status error', role: 'alert' }, describeFailure(error)));
  });
  return section;
}

/** True (and on the way to sign-in) when `error` says the session is gone. */
export function signedOut(error: unknown, go: (path: string) => void): boolean {
  if (!(error instanceof RequestFailed && error.code === 'UNAUTHENTICATED')) return false;
  keepSession(null);
  go('/sign-in');
  return true;
}

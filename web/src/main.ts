// Boots the SPA: one screen per path, links handled in the page, language switch.
import { h } from './forms';
import { chooseLang, currentLang, t, type Lang } from './i18n';
import { accountScreen } from './screens/account';
import { activityScreen } from './screens/activity';
import { checkLoginIdScreen } from './screens/check-login-id';
import { findIdScreen } from './screens/find-id';
import { recoveryCodesScreen } from './screens/recovery-codes';
import { resetPasswordScreen } from './screens/reset-password';
import { signInScreen } from './screens/sign-in';

// A new screen is one line here and one file; `nav: false` keeps a sub-page of another out of the
// header (the account screen links its own).
const screens: Record<string, { label: () => string; render: () => Node; nav?: false }> = {
  '/find-id': { label: () => t().navFindId, render: findIdScreen },
  '/check-login-id': { label: () => t().navCheckId, render: checkLoginIdScreen },
  '/reset-password': { label: () => t().navReset, render: resetPasswordScreen },
  '/sign-in': { label: () => t().navSignIn, render: () => signInScreen(go) },
  '/account': { label: () => t().navAccount, render: () => accountScreen(go) },
  '/account/activity': { label: () => t().navActivity, render: () => activityScreen(go), nav: false },
  '/account/recovery-codes': { label: () => t().navRecoveryCodes, render: () => recoveryCodesScreen(go), nav: false },
};

function render(): void {
  const path = location.pathname in screens ? location.pathname : '/find-id';
  document.documentElement.lang = currentLang();
  document.title = t().title;
  document.getElementById('brand')!.textContent = t().title;
  document.getElementById('nav')!.replaceChildren(
    ...Object.entries(screens)
      .filter(([, s]) => s.nav !== false)
      // A sub-page (the account's activity) marks its parent as the current section.
      .map(([href, s]) => h('a', { href, 'aria-current': href === path ? 'page' : path.startsWith(`${href}/`) ? 'true' : false }, s.label())),
  );
  document.getElementById('app')!.replaceChildren(screens[path].render());
}

function go(path: string): void {
  history.pushState(null, '', path);
  render();
}

document.addEventListener('click', (event) => {
  const link = (event.target as Element).closest('a');
  if (link && link.origin === location.origin && link.pathname in screens) {
    event.preventDefault();
    go(link.pathname + link.search);
  }
});
window.addEventListener('popstate', render);

const langSelect = document.getElementById('lang') as HTMLSelectElement;
langSelect.value = currentLang();
langSelect.addEventListener('change', () => {
  chooseLang(langSelect.value as Lang);
  render();
});

render();

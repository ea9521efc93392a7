// The identity paths (SPEC §3) without a raw `ci`: the SPA passes on a signed identity assertion,
// `verifiedIdentity.assertion`, and never asks the user for the provider's value. The host's back
// end runs the provider's check, reads its result server-side and signs the assertion (a compact
// JWS, `typ: idv+jwt`, with `purpose` `find_id` or `reset_password`). It reaches the SPA in one of
// two ways, whichever suits the host:
//
//  1. The URL fragment. The host's back end ends its check with a redirect to
//     `/find-id#assertion=<jws>` or `/reset-password#assertion=<jws>[&loginId=<login ID>]`.
//     A fragment never reaches a server or its logs; the screen takes it and removes it from the
//     address bar at once (history.replaceState), as the reset screen does with `#token=`.
//  2. A hook. The host page defines, before the SPA's script runs,
//       window.accountRecovery = { identityAssertion: async (purpose) => '<jws>' | null };
//     it opens the provider's check (popup, redirect-less SDK…), has its back end sign the result
//     and resolves to the assertion (null when the user gave up). The screens then show a
//     "Verify my identity" button that calls it.
//
// On a development service (no real JWKS, not PRODUCTION), `POST /dev/identity-assertion` signs a
// test assertion with the development key. A dashed "development only" box stands in for the
// provider's window there. Whether the route exists is asked with OPTIONS, which the service
// answers 200 on every path (so neither a development nor a production page logs a failed
// request): the route's answer carries `Allow: POST`, a production service's (no such route)
// none. A 404 to the demo's POST hides the box too. A host that defines the hook is a real
// deployment: no probe at all.
import type { ProblemFragment } from './gql/graphql';
import { h } from './forms';
import { t } from './i18n';

export type Purpose = 'find_id' | 'reset_password';

declare global {
  interface Window {
    /** Defined by the host page, optionally: see the top of identity-proof.ts and web/README.md. */
    accountRecovery?: { identityAssertion?: (purpose: Purpose) => Promise<string | null | undefined> };
  }
}

const DEV_ENDPOINT = '/dev/identity-assertion';

/** An assertion waiting for the call it is for: handed over, from the hook, or from the demo. */
type Held = { assertion: string; loginId?: string };
// Kept outside the screen so that re-rendering (the language switch) does not lose it.
const held: Partial<Record<Purpose, Held>> = {};

/** Takes `#assertion=…` (and `loginId=…`) from the address, once, and removes them from it. */
function takeFragment(purpose: Purpose): void {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const assertion = fragment.get('assertion');
  if (!assertion) return;
  held[purpose] = { assertion, loginId: fragment.get('loginId')?.trim() || undefined };
  fragment.delete('assertion');
  fragment.delete('loginId');
  const rest = fragment.toString();
  history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
}

let demoProbe: Promise<boolean> | undefined;

/** Whether the service offers the development signer (asked once per page load). */
function demoAvailable(): Promise<boolean> {
  demoProbe ??= fetch(DEV_ENDPOINT, { method: 'OPTIONS' }).then(
    (r) => /\bPOST\b/i.test(r.headers.get('Allow') ?? ''),
    () => false,
  );
  return demoProbe;
}

/**
 * Where a screen's identity form gets its assertion. `form` is the form that makes the call; its
 * submit button shows only when there is something to submit (a hook, or an assertion held).
 */
export class IdentityProof {
  /** The hint, and the demo box on a development service: put it next to the form. */
  readonly element: HTMLElement;
  private readonly submit: HTMLButtonElement | null;
  private readonly hook = window.accountRecovery?.identityAssertion;

  constructor(
    private readonly purpose: Purpose,
    private readonly form: HTMLFormElement,
  ) {
    takeFragment(purpose);
    const text = t();
    this.submit = form.querySelector('button[type="submit"]');
    this.element = h(
      'div',
      { class: 'identity-proof' },
      h('p', {}, this.hook ? text.identityWithHook : text.identityFromHost),
      this.hook ? null : this.demoBox(),
    );
    this.refresh();
  }

  /** The assertion handed over in the address, with its login ID, if one waits. */
  get handedOver(): Held | undefined {
    return held[this.purpose];
  }

  /** Submits the form once it is in the page (a handed-over assertion runs at once). */
  submitSoon(): void {
    setTimeout(() => this.form.isConnected && this.form.requestSubmit());
  }

  /** The assertion for this call: one held, else the host's check. Throws what to tell the user. */
  async take(): Promise<string> {
    const waiting = held[this.purpose]?.assertion;
    if (waiting) return waiting;
    if (!this.hook) throw new Error(t().identityNoCheck);
    const assertion = await this.hook(this.purpose);
    if (!assertion) throw new Error(t().identityCancelled);
    held[this.purpose] = { assertion };
    return assertion;
  }

  /**
   * After the service answered. An assertion it judged (used, or refused: forged, expired,
   * replayed) works no more: drop it. One it never looked at (the login ID was malformed) stays.
   */
  settle(errors: readonly ProblemFragment[]): void {
    const notLookedAt = errors.length > 0 && errors.every((e) => e.field?.at(-1) === 'loginId');
    if (!notLookedAt) delete held[this.purpose];
    this.refresh();
  }

  private refresh(): void {
    if (!this.submit) return;
    const text = t();
    this.submit.hidden = !this.hook && !held[this.purpose];
    this.submit.textContent = held[this.purpose] ? text.identityUseHeld : text.verifyIdentity;
  }

  /** The stand-in for the provider's window, shown only where the development signer exists. */
  private demoBox(): HTMLElement {
    const text = t();
    const status = h('p', { class: 'status error', role: 'status' });
    const ci = h('input', { name: 'demoCi', type: 'text', autocomplete: 'off', id: `demo-ci-${this.purpose}` });
    const joinType = h(
      'select',
      { name: 'demoJoinType', id: `demo-join-type-${this.purpose}` },
      h('option', { value: 'CITIZEN' }, text.CITIZEN),
      h('option', { value: 'FOREIGN' }, text.FOREIGN),
    );
    const sign = h('button', { type: 'button' }, text.demoButton);
    const box = h(
      'div',
      { class: 'demo-box', 'data-testid': 'identity-demo', hidden: true },
      h('p', { class: 'demo-label' }, text.demoLabel),
      h('p', {}, text.demoIntro),
      h('div', { class: 'field' }, h('label', { for: ci.id }, text.demoCi), ci),
      h('div', { class: 'field' }, h('label', { for: joinType.id }, text.joinType), joinType),
      status,
      sign,
    );
    void demoAvailable().then((available) => (box.hidden = !available));
    sign.addEventListener('click', async () => {
      status.textContent = '';
      sign.disabled = true;
      try {
        const response = await fetch(DEV_ENDPOINT, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ ci: ci.value.trim(), joinType: joinType.value, purpose: this.purpose }),
        });
        if (response.status === 404) {
          box.hidden = true; // not a development service after all
          return;
        }
        const body = (await response.json().catch(() => ({}))) as { assertion?: string; error?: string };
        if (!response.ok || !body.assertion) {
          status.textContent = body.error ?? `HTTP ${response.status}`;
          return;
        }
        // Held like a handed-over one, then the normal flow runs with it.
        held[this.purpose] = { assertion: body.assertion, loginId: held[this.purpose]?.loginId };
        this.refresh();
        this.form.requestSubmit();
      } catch (error) {
        status.textContent = error instanceof Error ? error.message : String(error);
      } finally {
        sign.disabled = false;
      }
    });
    return box;
  }
}

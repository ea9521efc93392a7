// Building forms and showing what the service answered: each UserError under the field its
// `field` path names, request failures (RATE_LIMITED with its retryAfter) under the form.
import { RequestFailed } from './api';
import type { ProblemFragment } from './gql/graphql';
import { currentLang, t } from './i18n';

type Child = Node | string | null | undefined | false;

/** document.createElement with attributes and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === true) element.setAttribute(name, '');
    else if (value !== false) element.setAttribute(name, value);
  }
  element.append(...children.filter((c): c is Node | string => c !== null && c !== undefined && c !== false));
  return element;
}

let fieldCount = 0;

/** A form whose fields are named by the GraphQL input path their errors come back on. */
export class Form {
  readonly element: HTMLFormElement;
  private readonly status = h('p', { class: 'status', role: 'status' });
  private readonly errorLists = new Map<string, HTMLUListElement>();
  /** Each error list's control, marked aria-invalid while its list has errors. */
  private readonly controls = new Map<HTMLUListElement, HTMLElement>();
  private readonly button: HTMLButtonElement;

  constructor(submitLabel: string) {
    this.button = h('button', { type: 'submit' }, submitLabel);
    this.element = h('form', { novalidate: true }, this.status, this.button);
  }

  /** `send` makes the call and returns the payload's `errors`; it may throw RequestFailed. */
  onSubmit(send: () => Promise<readonly ProblemFragment[]>): this {
    this.element.addEventListener('submit', async (event) => {
      event.preventDefault();
      this.clear();
      this.button.disabled = true;
      // Busy until answered; a proof-of-work note (challenge.ts) goes into the busy form.
      this.element.setAttribute('aria-busy', 'true');
      try {
        this.showProblems(await send());
      } catch (error) {
        this.say(describeFailure(error), 'error');
      } finally {
        this.button.disabled = false;
        this.element.removeAttribute('aria-busy');
      }
    });
    return this;
  }

  /**
   * Adds a labelled control before the button. `paths` are the input paths (e.g.
   * `input.newPassword`) whose UserErrors belong under it.
   */
  field<E extends HTMLElement>(label: string, control: E, ...paths: string[]): E {
    control.id ||= `field-${++fieldCount}`;
    const errors = h('ul', { class: 'errors', id: `${control.id}-errors` });
    control.setAttribute('aria-describedby', errors.id);
    for (const path of paths) this.errorLists.set(path, errors);
    this.controls.set(errors, control);
    this.element.insertBefore(h('div', { class: 'field' }, h('label', { for: control.id }, label), control, errors), this.status);
    return control;
  }

  input(label: string, name: string, type: string, ...paths: string[]): HTMLInputElement {
    const autocomplete = { password: 'current-password', email: 'email' }[type] ?? 'off';
    return this.field(label, h('input', { name, type, autocomplete }), ...paths);
  }

  say(text: string, kind: 'error' | 'ok' = 'ok'): void {
    this.status.textContent = text;
    this.status.className = `status ${kind}`;
  }

  private clear(): void {
    this.say('');
    for (const [list, control] of this.controls) {
      list.replaceChildren();
      control.removeAttribute('aria-invalid');
    }
  }

  private showProblems(problems: readonly ProblemFragment[]): void {
    const unplaced: string[] = [];
    for (const problem of problems) {
      const list = problem.field ? this.errorLists.get(problem.field.join('.')) : undefined;
      if (list) {
        list.append(h('li', { 'data-code': problem.code }, problem.message));
        this.controls.get(list)?.setAttribute('aria-invalid', 'true');
      } else unplaced.push(problem.message);
    }
    if (unplaced.length) this.say(unplaced.join(' '), 'error');
  }
}

export function describeFailure(error: unknown): string {
  if (error instanceof RequestFailed && error.code === 'RATE_LIMITED' && error.retryAfter) {
    return t().rateLimited(error.retryAfter);
  }
  return error instanceof Error ? error.message : String(error);
}

/** A date-time from the API, in the UI's language and the reader's time zone. */
export const when = (iso: string | null | undefined): string => (iso ? new Date(iso).toLocaleString(currentLang()) : '');

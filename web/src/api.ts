// The one place that talks to the service: POST /graphql with the UI language, the session and
// this browser's device token.
// A RATE_LIMITED answer carrying a proof-of-work challenge (strangers spent the account's budget)
// is solved in a Web Worker and the same request sent once more with the solution.
import { isChallenge, passChallenge } from './challenge';
import type { TypedDocumentString } from './gql/graphql';
import { currentLang } from './i18n';
import { deviceToken, sessionToken } from './session';

/** A failure of the request itself (a top-level GraphQL error), not a UserError. */
export class RequestFailed extends Error {
  constructor(
    message: string,
    /** `extensions.code`: RATE_LIMITED, UNAUTHENTICATED, SERVICE_UNAVAILABLE, … */
    readonly code: string,
    /** Seconds to wait, with RATE_LIMITED. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

type GraphQLError = { message: string; extensions?: { code?: string; retryAfter?: number; challenge?: unknown } };

export async function request<TResult, TVariables>(
  document: TypedDocumentString<TResult, TVariables>,
  ...[variables]: TVariables extends Record<string, never> ? [] : [TVariables]
): Promise<TResult> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Accept-Language': currentLang(),
  };
  const token = sessionToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  const device = deviceToken();
  if (device) headers['X-Device-Token'] = device;
  // documentId lets a service with TRUSTED_DOCUMENTS run the listed text (it ignores `query`
  // then); one without a manifest ignores documentId. Drop `query` once every service has it.
  const body = JSON.stringify({ documentId: document.__meta__?.hash, query: document.toString(), variables });
  const send = async (extra: Record<string, string> = {}) => {
    const response = await fetch('/graphql', { method: 'POST', headers: { ...headers, ...extra }, body });
    const answer = (await response.json().catch(() => ({}))) as { data?: TResult; errors?: GraphQLError[] };
    return { status: response.status, answer };
  };
  let { status, answer } = await send();
  const challenge = answer.errors?.[0]?.extensions?.challenge;
  if (answer.errors?.[0]?.extensions?.code === 'RATE_LIMITED' && isChallenge(challenge)) {
    // Once: the retry's answer is the answer, even another challenge (then the wait is shown).
    ({ status, answer } = await passChallenge(challenge, (solution) => send({ 'X-Challenge-Solution': solution })));
  }
  const failure = answer.errors?.[0];
  if (failure || !answer.data) {
    throw new RequestFailed(
      failure?.message ?? `HTTP ${status}`,
      failure?.extensions?.code ?? 'INTERNAL',
      failure?.extensions?.retryAfter,
    );
  }
  return answer.data;
}

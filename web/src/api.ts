// The one place that talks to the service: POST /graphql with the UI language and the session.
import type { TypedDocumentString } from './gql/graphql';
import { currentLang } from './i18n';
import { sessionToken } from './session';

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

type GraphQLError = { message: string; extensions?: { code?: string; retryAfter?: number } };

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
  const response = await fetch('/graphql', {
    method: 'POST',
    headers,
    // documentId lets a service with TRUSTED_DOCUMENTS run the listed text (it ignores `query`
    // then); one without a manifest ignores documentId. Drop `query` once every service has it.
    body: JSON.stringify({ documentId: document.__meta__?.hash, query: document.toString(), variables }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    data?: TResult;
    errors?: GraphQLError[];
  };
  const failure = body.errors?.[0];
  if (failure || !body.data) {
    throw new RequestFailed(
      failure?.message ?? `HTTP ${response.status}`,
      failure?.extensions?.code ?? 'INTERNAL',
      failure?.extensions?.retryAfter,
    );
  }
  return body.data;
}

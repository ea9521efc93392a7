// The password policy as the service reports it, checked as the user types. The same rules as
// src/domain/password_policy.rs; the service stays the judge (common and reused passwords are
// known only there), so this is a hint, never a gate.
import type { PasswordPolicyQuery } from './gql/graphql';

export type Policy = PasswordPolicyQuery['passwordPolicy'];

/** Position on the digit/letter scale; other characters never form sequences. */
function sequencePosition(c: string): number | null {
  return /^[0-9a-z]$/i.test(c) ? c.toLowerCase().charCodeAt(0) : null;
}

function hasSequentialRun(chars: string[], limit: number): boolean {
  if (limit === 0) return false;
  let up = 1;
  let down = 1;
  for (let i = 1; i < chars.length; i++) {
    const a = sequencePosition(chars[i - 1]);
    const b = sequencePosition(chars[i]);
    up = a !== null && b === a + 1 ? up + 1 : 1;
    down = a !== null && b !== null && b + 1 === a ? down + 1 : 1;
    if (up > limit || down > limit) return true;
  }
  return false;
}

function hasRepeatedRun(chars: string[], limit: number): boolean {
  if (limit === 0) return false;
  let run = 1;
  for (let i = 1; i < chars.length; i++) {
    const same = /^[a-z]$/i.test(chars[i]) ? chars[i].toLowerCase() === chars[i - 1].toLowerCase() : chars[i] === chars[i - 1];
    run = same ? run + 1 : 1;
    if (run > limit) return true;
  }
  return false;
}

/** The rules a client can check, each with whether `password` meets it. */
export function checkRules(policy: Policy, password: string, loginId?: string) {
  const normalized = password.normalize('NFKC');
  const chars = [...normalized];
  const id = loginId?.trim().normalize('NFKC').toLowerCase() ?? '';
  return {
    length: chars.length >= policy.minLength && chars.length <= policy.maxLength,
    whitespace: !policy.forbidWhitespace || !/\s/u.test(normalized),
    sequential: !hasSequentialRun(chars, policy.maxSequentialRun),
    repeated: !hasRepeatedRun(chars, policy.maxRepeatedRun),
    loginId: [...id].length < 3 || !normalized.toLowerCase().includes(id),
  };
}

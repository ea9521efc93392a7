// The signed-in session of this browser tab: its bearer token, and whether sign-in reported the
// password as expired (the account screen then offers EXTEND).
const KEY = 'account-recovery.session';

type Session = { token: string; passwordExpired: boolean };

function read(): Session | null {
  try {
    return JSON.parse(sessionStorage.getItem(KEY) ?? 'null') as Session | null;
  } catch {
    return null;
  }
}

export const sessionToken = (): string | null => read()?.token ?? null;
export const passwordExpired = (): boolean => read()?.passwordExpired ?? false;

export function keepSession(session: Session | null): void {
  if (session) sessionStorage.setItem(KEY, JSON.stringify(session));
  else sessionStorage.removeItem(KEY);
}

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

// The device token `signIn` returned: kept across tabs and restarts (localStorage, unlike the
// session), sent as X-Device-Token so this browser's calls about its member count against the
// device, not against the member's limits that strangers can spend. The service hands back the
// same token, renewed, when it is sent with a sign-in; a reported change makes it worthless.
const DEVICE_KEY = 'account-recovery.device';

export function deviceToken(): string | null {
  try {
    return localStorage.getItem(DEVICE_KEY);
  } catch {
    return null;
  }
}

export function keepDevice(token: string | null | undefined): void {
  try {
    if (token) localStorage.setItem(DEVICE_KEY, token);
  } catch {
    // Storage refused (private mode): the browser counts as a fresh device.
  }
}

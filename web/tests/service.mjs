// Starts the real service binary for the browser tests: SQLite and the outbox folder in a temp
// dir, the built SPA from ../dist, members imported from a fixture, and reads the mail it writes.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const here = import.meta.dirname;
/** The binary CI already built for `cargo test`; ACCOUNT_RECOVERY_BIN overrides. */
export const binary =
  process.env.ACCOUNT_RECOVERY_BIN ??
  join(process.env.CARGO_TARGET_DIR ?? resolve(here, '../../target'), 'debug/account-recovery');

export const members = [
  { loginId: 'mina.park', email: 'mina@example.com', name: 'Mina Park', password: 'Blue-Harbor-47', ci: 'CI-MINA', joinType: 'CITIZEN', joinedAt: '2023-05-01T09:00:00Z' },
  { loginId: 'joon.lee', email: 'family@example.com', name: 'Joon Lee', password: 'Quiet-Maple-82' },
  { loginId: 'joon.biz', email: 'family@example.com', name: 'Joon Lee', memberType: 'ENTERPRISE', password: 'Amber-Falcon-36' },
  { loginId: 'old.timer', email: 'old@example.com', name: 'Old Timer', password: 'Amber-Falcon-36', passwordChangedAt: '2020-01-01T00:00:00Z' },
  { loginId: 'sora.kim', email: 'sora@example.com', name: 'Sora Kim', password: 'Tidy-Garden-51' },
  { loginId: 'yuri.han', email: 'yuri@example.com', name: 'Yuri Han', password: 'Velvet-Canyon-39' },
  { loginId: 'hana.choi', email: 'hana@example.com', name: 'Hana Choi', password: 'Coral-Summit-26' },
];

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await new Promise((ok) => server.once('listening', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

export async function startService(extraEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ar-browser-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env = {
    ...process.env,
    DATABASE_URL: `sqlite://${dir}/db.sqlite?mode=rwc`,
    OUTBOX_DIR: join(dir, 'outbox'),
    WEB_DIR: resolve(here, '../dist'),
    BIND: `127.0.0.1:${port}`,
    PUBLIC_RESET_URL: `${url}/reset-password`,
    DEMO: 'false',
    MAIL_POLL_MS: '100',
    RUST_LOG: 'warn',
    ...extraEnv,
  };
  writeFileSync(join(dir, 'members.jsonl'), members.map((m) => JSON.stringify(m)).join('\n') + '\n');
  execFileSync(binary, ['member', 'import', join(dir, 'members.jsonl')], { env, stdio: 'pipe' });
  const child = spawn(binary, ['serve'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.on('data', (chunk) => (log += chunk));
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`the service exited (${child.exitCode}):\n${log}`);
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    if (i > 100) throw new Error(`the service did not answer on ${url}:\n${log}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return {
    url,
    outbox: env.OUTBOX_DIR,
    stop: async () => {
      if (child.exitCode === null) await new Promise((ok) => (child.once('exit', ok), child.kill('SIGTERM')));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The text part of an .eml file as lettre writes it (multipart, base64 or quoted-printable). */
export function mailText(eml) {
  const boundary = /boundary="([^"]+)"/.exec(eml)?.[1];
  const parts = boundary ? eml.split(`--${boundary}`) : [eml];
  const part = parts.find((p) => /Content-Type: text\/plain/i.test(p)) ?? parts[0];
  const split = part.search(/\r?\n\r?\n/);
  const headers = part.slice(0, split);
  const body = part.slice(split).trim();
  const encoding = /Content-Transfer-Encoding: ([\w-]+)/i.exec(headers)?.[1].toLowerCase();
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') {
    const bytes = body.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8');
  }
  return body;
}

/** The mail files there now: pass them to `nextMail` to wait for a newer one. */
export const mailsNow = (outbox) => new Set(readdirSync(outbox).filter((n) => n.endsWith('.eml')));

/** Waits for a mail to `to` that is not in `before` and whose text matches `wanted`. */
export async function nextMail(outbox, to, before, wanted = /#token=/) {
  for (let i = 0; i < 100; i++) {
    for (const name of mailsNow(outbox)) {
      if (before.has(name)) continue;
      const eml = readFileSync(join(outbox, name), 'utf8');
      const text = mailText(eml);
      if (eml.includes(`To: ${to}`) && wanted.test(text)) return text;
    }
    await new Promise((ok) => setTimeout(ok, 100));
  }
  throw new Error(`no mail to ${to} in ${outbox}`);
}

/** Each account of a reset mail: its login ID, code and link (English or Korean labels). */
export function grants(text) {
  const out = [];
  let loginId;
  let code;
  for (const line of text.split(/\r?\n/).map((l) => l.trim())) {
    loginId = /^(?:Login ID|아이디): (.+)$/.exec(line)?.[1] ?? loginId;
    code = /^(?:Verification code|인증번호): (\d{6})$/.exec(line)?.[1] ?? code;
    const link = /(https?:\/\/\S+#token=\S+)/.exec(line)?.[1];
    if (link) out.push({ loginId, code, link });
  }
  return out;
}

/** The "that wasn't me" link of a password-changed notice. */
export function reportLink(text) {
  const link = /(https?:\/\/\S+#report=\S+)/.exec(text)?.[1];
  if (!link) throw new Error(`no report link in:\n${text}`);
  return link;
}

/** One GraphQL call straight to the service (what another device or a stranger does). */
export async function gql(service, query, variables = {}, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(`${service.url}/graphql`, { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  return response.json();
}

/** A session of `loginId` signed in over the API; fails the test when sign-in is refused. */
export async function signInOverApi(service, loginId, password) {
  const body = await gql(
    service,
    'mutation($l: String!, $p: String!) { signIn(loginId: $l, password: $p) { accessToken errors { code } } }',
    { l: loginId, p: password },
  );
  const token = body.data?.signIn.accessToken;
  if (!token) throw new Error(`sign-in of ${loginId} refused: ${JSON.stringify(body)}`);
  return token;
}

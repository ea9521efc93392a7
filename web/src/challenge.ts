// A RATE_LIMITED answer with `extensions.challenge` (only the target's limit refused: strangers
// spent an account's budget or its sign-in failures): solve it in a Web Worker while a note says
// why the wait, and hand back the `X-Challenge-Solution` header for the one retry.
import { t } from './i18n';
import type { WorkerAnswer } from './pow-worker';

export type Challenge = { algorithm: string; nonce: string; difficulty: number; expiresAt: string };

/** Whether `value` is a challenge this client can solve. */
export function isChallenge(value: unknown): value is Challenge {
  const c = value as Challenge | undefined;
  return (
    c?.algorithm === 'sha256' &&
    typeof c.nonce === 'string' &&
    Number.isInteger(c.difficulty) &&
    c.difficulty >= 0 &&
    c.difficulty <= 32 &&
    typeof c.expiresAt === 'string'
  );
}

/** Runs one solve in a fresh worker (a few a day at most: nothing to keep warm). */
function inWorker(job: { nonce: string; difficulty: number; deadline: number }): Promise<{ counter: string; hashes: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./pow-worker.ts', import.meta.url), { type: 'module' });
    const done = () => worker.terminate();
    worker.onmessage = ({ data }: MessageEvent<WorkerAnswer>) => {
      done();
      if ('error' in data) reject(new Error(data.error));
      else resolve(data);
    };
    worker.onerror = (event) => {
      done();
      reject(new Error(event.message || 'the challenge worker failed'));
    };
    worker.postMessage(job);
  });
}

/**
 * The note: in the form being submitted (Form marks it aria-busy), else at the top of the screen.
 * A polite live region, so a screen reader says why nothing happens for a second.
 */
function showNote(): HTMLElement {
  const note = document.createElement('p');
  note.className = 'status warning';
  note.setAttribute('role', 'status');
  note.dataset.testid = 'challenge-note';
  note.textContent = t().challengeNote;
  const form = document.querySelector('form[aria-busy="true"]');
  if (form) form.querySelector('button[type="submit"], button:not([type])')?.before(note) ?? form.append(note);
  else document.getElementById('app')?.firstElementChild?.prepend(note) ?? document.body.prepend(note);
  return note;
}

/** The last solve's figures, for tests and anyone measuring (also logged with console.debug). */
export type SolveFigures = { ms: number; hashes: number; difficulty: number };
export let lastSolve: SolveFigures | undefined;

/**
 * Solves `challenge` with the note shown, then makes the one `retry` with the solution
 * (`<nonce>:<counter>`, for the X-Challenge-Solution header); the note stays until it answers.
 */
export async function passChallenge<T>(challenge: Challenge, retry: (solution: string) => Promise<T>): Promise<T> {
  const note = showNote();
  try {
    const started = performance.now();
    const { counter, hashes } = await inWorker({
      nonce: challenge.nonce,
      difficulty: challenge.difficulty,
      deadline: Date.parse(challenge.expiresAt) || Date.now() + 120_000,
    });
    const ms = Math.round(performance.now() - started);
    lastSolve = { ms, hashes, difficulty: challenge.difficulty };
    note.dataset.solveMs = String(ms);
    document.documentElement.dataset.challengeSolveMs = String(ms);
    console.debug(`challenge solved: ${ms} ms, ${hashes} hashes at difficulty ${challenge.difficulty}`);
    return await retry(`${challenge.nonce}:${counter}`);
  } finally {
    note.remove();
  }
}

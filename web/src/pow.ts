// The proof of work a RATE_LIMITED answer may carry (docs/API.md "Limits and failures"): the
// decimal counter such that SHA-256 of `<nonce>:<counter>` starts with `difficulty` zero bits.
// Runs in pow-worker.ts (off the main thread); crypto.subtle needs a secure context (https, or
// localhost), which the pages are.

/** Whether `digest` starts with `bits` zero bits. */
export function startsWithZeroBits(digest: Uint8Array, bits: number): boolean {
  let i = 0;
  for (; bits >= 8; bits -= 8, i++) if (digest[i] !== 0) return false;
  return bits === 0 || digest[i] >> (8 - bits) === 0;
}

/**
 * Counters from 0 until one solves the challenge. Digests are asked for `batch` at a time:
 * crypto.subtle answers each in a promise, and one at a time is mostly waiting.
 * Gives up (throws) at `deadline` (ms since the epoch): the challenge has expired by then.
 */
export async function solve(
  nonce: string,
  difficulty: number,
  deadline = Infinity,
  batch = 256,
): Promise<{ counter: string; hashes: number }> {
  const encoder = new TextEncoder();
  for (let start = 0; ; start += batch) {
    if (Date.now() > deadline) throw new Error('the challenge expired before it was solved');
    const digests = await Promise.all(
      Array.from({ length: batch }, (_, i) => crypto.subtle.digest('SHA-256', encoder.encode(`${nonce}:${start + i}`))),
    );
    for (let i = 0; i < batch; i++) {
      if (startsWithZeroBits(new Uint8Array(digests[i]), difficulty)) return { counter: String(start + i), hashes: start + i + 1 };
    }
  }
}

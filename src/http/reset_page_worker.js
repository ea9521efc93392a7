// Solves the proof of work a RATE_LIMITED answer may carry (docs/API.md "Limits and failures"),
// off the embedded reset page's main thread: the decimal counter such that SHA-256 of
// `<nonce>:<counter>` starts with `difficulty` zero bits. Served as /reset-password/pow-worker.js
// (the page's CSP allows same-origin workers only). web/src/pow.ts is the SPA's copy.
'use strict';

function startsWithZeroBits(digest, bits) {
  let i = 0;
  for (; bits >= 8; bits -= 8, i++) if (digest[i] !== 0) return false;
  return bits === 0 || digest[i] >> (8 - bits) === 0;
}

// Digests 256 at a time: crypto.subtle answers each in a promise, one at a time is mostly waiting.
async function solve(nonce, difficulty, deadline) {
  const encoder = new TextEncoder();
  const batch = 256;
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

self.onmessage = ({ data }) => {
  solve(data.nonce, data.difficulty, data.deadline).then(
    (solved) => self.postMessage(solved),
    (error) => self.postMessage({ error: String(error) }),
  );
};

// Completes a reset with the token of the mailed link (#token=…) or a mailed code, and reports a
// password change the member did not make (#report=…, from the notice) — only when asked to.
// Links carry their token in the fragment (never sent to a server); links already sent as ?token=…
// still work.
// Served with the embedded reset page; the SPA in web/ does the same with more screens.
'use strict';
const $ = (id) => document.getElementById(id);
const fragment = new URLSearchParams(location.hash.slice(1));
const query = new URLSearchParams(location.search);
let token = fragment.get('token') || query.get('token');
const report = fragment.get('report') || query.get('report');
// The tokens leave the address bar (history, screenshots, shoulder surfers).
history.replaceState(null, '', location.pathname);
// A link opened in this same tab changes only the fragment: start again with its token.
window.addEventListener('hashchange', () => location.reload());

function post(query, variables, solution) {
  const headers = { 'Content-Type': 'application/json' }; // the browser sends Accept-Language
  if (solution) headers['X-Challenge-Solution'] = solution;
  // The device token the SPA kept after a sign-in on this origin: codes typed here then count
  // against this device, not against the member's limits strangers can spend.
  let device = null;
  try {
    device = localStorage.getItem('account-recovery.device');
  } catch (e) {
    device = null;
  }
  if (device) headers['X-Device-Token'] = device;
  return fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) }).then((r) => r.json());
}

// RATE_LIMITED with a challenge: strangers spent this account's budget. Solving it in a worker
// (about a second) admits the same call once; the note says why the wait.
function solveChallenge(challenge) {
  const note = $('challenge-note');
  note.hidden = false;
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const worker = new Worker('/reset-password/pow-worker.js');
    worker.onmessage = ({ data }) => {
      worker.terminate();
      if (data.error) return reject(new Error(data.error));
      const ms = Math.round(performance.now() - started);
      note.dataset.solveMs = String(ms);
      console.debug(`challenge solved: ${ms} ms, ${data.hashes} hashes at difficulty ${challenge.difficulty}`);
      resolve(`${challenge.nonce}:${data.counter}`);
    };
    worker.onerror = (event) => {
      worker.terminate();
      reject(new Error(event.message || 'the challenge worker failed'));
    };
    worker.postMessage({ nonce: challenge.nonce, difficulty: challenge.difficulty, deadline: Date.parse(challenge.expiresAt) || Date.now() + 120000 });
  });
}

async function call(query, variables) {
  let body = await post(query, variables);
  const first = body.errors && body.errors[0];
  const challenge = first && first.extensions && first.extensions.code === 'RATE_LIMITED' && first.extensions.challenge;
  if (challenge && challenge.algorithm === 'sha256') {
    // Once: the retry's answer is the answer (another refusal shows its wait).
    try {
      body = await post(query, variables, await solveChallenge(challenge));
    } finally {
      $('challenge-note').hidden = true;
    }
  }
  if (body.errors) {
    const e = body.errors[0];
    const wait = e.extensions && e.extensions.retryAfter;
    throw new Error(wait ? `${e.message} (${wait} s)` : e.message);
  }
  return body.data;
}

function showErrors(messages) {
  $('errors').replaceChildren(...messages.map((m) => Object.assign(document.createElement('li'), { textContent: m })));
}

async function verify(credential) {
  const { verifyResetToken: r } = await call(
    'mutation($c: ResetCredential!) { verifyResetToken(credential: $c) { valid token maskedLoginId errors { message } } }',
    { c: credential },
  );
  showErrors(r.errors.map((e) => e.message));
  if (!r.valid) return;
  token = r.token;
  $('login-id').textContent = r.maskedLoginId;
  $('code-form').hidden = true;
  $('password-form').hidden = false;
}

$('code-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const who = event.target.who.value.trim();
  const code = { code: event.target.code.value.trim(), ...(who.includes('@') ? { email: who } : { loginId: who }) };
  verify({ code }).catch((e) => showErrors([e.message]));
});

$('password-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const { resetPassword: r } = await call(
      'mutation($i: ResetPasswordInput!) { resetPassword(input: $i) { member { loginId } errors { message } } }',
      { i: { credential: { token }, newPassword: event.target.newPassword.value, newPasswordConfirmation: event.target.confirmation.value } },
    );
    showErrors(r.errors.map((e) => e.message));
    if (r.member) {
      $('password-form').hidden = true;
      $('done').hidden = false;
    }
  } catch (e) {
    showErrors([e.message]);
  }
});

// Reports only from the button: mail scanners open links too, and must not lock the account.
$('report-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  try {
    const { reportUnrecognizedChange: r } = await call(
      'mutation($t: String!) { reportUnrecognizedChange(token: $t) { locked maskedDestination errors { message } } }',
      { t: report },
    );
    showErrors(r.errors.map((e) => e.message));
    if (r.locked) {
      $('report-form').hidden = true;
      $('destination').textContent = r.maskedDestination;
      $('reported').hidden = false;
      $('code-form').hidden = false;
    }
  } catch (e) {
    showErrors([e.message]);
  }
});

if (token) verify({ token }).catch((e) => showErrors([e.message]));
else if (report) $('report-form').hidden = false;
else $('code-form').hidden = false;

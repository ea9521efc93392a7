// Solves one challenge per message, off the main thread, so the page stays responsive while it
// works. Vite emits this as its own same-origin file (the pages' CSP allows no blob: workers).
import { solve } from './pow';

type Job = { nonce: string; difficulty: number; deadline: number };
export type WorkerAnswer = { counter: string; hashes: number } | { error: string };

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<Job>) => void) | null;
  postMessage(answer: WorkerAnswer): void;
};

scope.onmessage = ({ data }) => {
  solve(data.nonce, data.difficulty, data.deadline).then(
    (solved) => scope.postMessage(solved),
    (error: unknown) => scope.postMessage({ error: String(error) }),
  );
};

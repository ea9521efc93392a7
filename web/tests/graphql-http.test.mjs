// The GraphQL-over-HTTP audit of graphql-http (the reference suite) against the running service:
// every MUST and SHOULD passes; the counts are printed.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { auditServer } from 'graphql-http';
import { startService } from './service.mjs';

let service;
before(async () => {
  service = await startService();
});
after(async () => {
  await service?.stop();
});

test('graphql-http audit: every MUST and SHOULD passes', async () => {
  const results = await auditServer({ url: `${service.url}/graphql` });
  const count = {};
  const failed = [];
  for (const r of results) {
    const level = r.name.split(' ')[0];
    count[`${level} ${r.status}`] = (count[`${level} ${r.status}`] ?? 0) + 1;
    if (r.status !== 'ok' && (level === 'MUST' || level === 'SHOULD')) {
      failed.push(`${r.id} ${r.name}: ${r.reason}`);
    }
  }
  console.log('graphql-http audit:', JSON.stringify(count));
  assert.deepEqual(failed, []);
});

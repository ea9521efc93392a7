// The schema that a client generator loads by introspection from the running service (graphql-js,
// as Apollo Sandbox and codegen-from-URL do) is the committed schema.graphql.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildClientSchema, buildSchema, getIntrospectionQuery, lexicographicSortSchema, printSchema } from 'graphql';
import { startService } from './service.mjs';

let service;
before(async () => {
  service = await startService();
});
after(async () => {
  await service?.stop();
});

test('introspection with graphql-js gives back schema.graphql', async () => {
  const query = getIntrospectionQuery({
    descriptions: true,
    specifiedByUrl: true,
    directiveIsRepeatable: true,
    schemaDescription: true,
    inputValueDeprecation: true,
    oneOf: true,
  });
  const response = await fetch(`${service.url}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query }),
  });
  const body = await response.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  // async-graphql answers every `__schema { description }` with a fixed text about schemas in
  // general, not one of ours; the committed file has none.
  delete body.data.__schema.description;
  const loaded = printSchema(lexicographicSortSchema(buildClientSchema(body.data)));
  const committed = readFileSync(join(import.meta.dirname, '../../schema.graphql'), 'utf8');
  assert.equal(loaded, printSchema(lexicographicSortSchema(buildSchema(committed))));
});

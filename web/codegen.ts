// Types every GraphQL document in src/ from the service's committed schema: a document that no
// longer matches `../schema.graphql` fails `npm run typecheck`.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: ['src/**/*.ts', '!src/gql/**'],
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: {
        fragmentMasking: false,
        // Emits persisted-documents.json (hash → text): the service's TRUSTED_DOCUMENTS manifest.
        persistedDocuments: { hashAlgorithm: 'sha256' },
      },
      config: {
        // Documents stay plain strings: no GraphQL parser in the browser bundle.
        documentMode: 'string',
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { DateTime: 'string' },
      },
    },
  },
};

export default config;

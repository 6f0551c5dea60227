import { defineConfig } from 'tsup';

export default defineConfig([
  {
    entry: {
      'protocol/index': 'src/protocol/index.ts',
      'server/index': 'src/server/index.ts',
      'server/mongo/index': 'src/server/mongo/index.ts',
      'client/index': 'src/client/index.ts',
    },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    outDir: 'dist',
    external: ['mongodb', 'ws', 'react', 'react-dom'],
  },
  {
    entry: { 'react/index': 'src/react/index.ts' },
    format: ['esm'],
    dts: true,
    sourcemap: true,
    target: 'es2022',
    outDir: 'dist',
    banner: { js: "'use client';" },
    external: ['react', 'react-dom', 'use-sync-external-store', 'particle'],
  },
]);

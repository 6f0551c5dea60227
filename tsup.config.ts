import { defineConfig, type Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];

// particle/react must share the one Collector of particle/client (and its protocol) at run time,
// not carry a bundled copy of its own.
const selfReference: Plugin = {
  name: 'particle-self-reference',
  setup(build) {
    build.onResolve({ filter: /\/(client|protocol)\/index\.js$/ }, (args) => {
      const layer = /\/(client|protocol)\/index\.js$/.exec(args.path)?.[1];
      return layer ? { path: `particle/${layer}`, external: true } : undefined;
    });
  },
};

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
    external: ['react', 'react-dom', 'use-sync-external-store', /^particle\//],
    esbuildPlugins: [selfReference],
  },
]);

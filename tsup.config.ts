import { readFile, writeFile } from 'node:fs/promises';
import { defineConfig } from 'tsup';

// One build for every layer, with shared chunks: particle-sync/react reaches the Collector of
// particle-sync/client through a relative chunk, so there is one Collector class per installed
// copy whatever name the package is installed under (an alias, a vendored copy).
export default defineConfig({
  entry: {
    'protocol/index': 'src/protocol/index.ts',
    'server/index': 'src/server/index.ts',
    'server/mongo/index': 'src/server/mongo/index.ts',
    'client/index': 'src/client/index.ts',
    'react/index': 'src/react/index.ts',
    'storage/index': 'src/storage/index.ts',
    'storage/redis/index': 'src/storage/redis/index.ts',
    'storage/mysql/index': 'src/storage/mysql/index.ts',
  },
  format: ['esm'],
  // Members marked @internal (the transport's seam on Stream) stay out of the public types.
  dts: { compilerOptions: { stripInternal: true } },
  splitting: true,
  sourcemap: true,
  target: 'es2022',
  platform: 'neutral',
  outDir: 'dist',
  external: [
    'mongodb',
    'redis',
    'mysql2',
    'ws',
    'react',
    'react-dom',
    'use-sync-external-store',
    /^node:/,
  ],
  // React Server Components need the directive on the react entry only (never on the server's).
  async onSuccess() {
    const file = 'dist/react/index.js';
    await writeFile(file, `'use client';\n${await readFile(file, 'utf8')}`);
    // The directive adds one line above the code: shift the map by one line to match.
    const map = JSON.parse(await readFile(`${file}.map`, 'utf8')) as { mappings: string };
    map.mappings = `;${map.mappings}`;
    await writeFile(`${file}.map`, JSON.stringify(map));
  },
});

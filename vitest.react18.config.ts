import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Runs particle-sync/react against React 18, installed apart in test/react18 (npm cannot hold React
// 18 and 19 in one tree): every import of react, react-dom and the shim resolves there.
const modules = fileURLToPath(new URL('./test/react18/node_modules/', import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^react-dom(\/.*)?$/, replacement: `${modules}react-dom$1` },
      { find: /^react(\/.*)?$/, replacement: `${modules}react$1` },
      {
        find: /^use-sync-external-store(\/.*)?$/,
        replacement: `${modules}use-sync-external-store$1`,
      },
    ],
  },
  test: {
    include: ['test/react18/**/*.test.tsx'],
    environment: 'happy-dom',
    server: { deps: { inline: [/use-sync-external-store/] } },
  },
});

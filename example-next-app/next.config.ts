import path from 'node:path';
import type { NextConfig } from 'next';

const config: NextConfig = {
  // The library is linked from the repository root (`"particle-sync": "file:.."`). Turbopack only
  // follows links inside its root, so the root is the repository, not this folder.
  turbopack: { root: path.join(__dirname, '..') },
};

export default config;

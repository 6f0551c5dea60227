import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileScopeStore } from '../../src/storage/index.js';
import { scopeStoreContract } from './contract.js';

const dir = await mkdtemp(join(tmpdir(), 'particle-scopes-'));

scopeStoreContract('file', {
  open: async () => new FileScopeStore({ dir, pollMs: 100 }),
  cleanup: () => rm(dir, { recursive: true, force: true }),
});

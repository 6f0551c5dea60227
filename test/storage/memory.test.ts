import { MemoryScopeStore } from '../../src/storage/index.js';
import { scopeStoreContract } from './contract.js';

// Every instance the suite opens shares one memory store, as two Scopes in one process would.
const shared = new MemoryScopeStore();

scopeStoreContract('memory', {
  open: async () => shared,
  cleanup: () => shared.close(),
});

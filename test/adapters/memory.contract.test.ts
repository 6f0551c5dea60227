import { MemoryAdapter, type UpdateDocument } from '../../src/server/memoryAdapter.js';
import { adapterContract } from './contract.js';

adapterContract('MemoryAdapter', async () => {
  const adapter = new MemoryAdapter();
  return {
    adapter,
    seed: async (collection, docs) => {
      adapter.remove(collection, {});
      if (docs.length > 0) adapter.insert(collection, docs);
    },
    insert: async (collection, doc) => void adapter.insert(collection, doc),
    update: async (collection, filter, update) =>
      void adapter.update(collection, filter, update as UpdateDocument),
    replace: async (collection, filter, doc) => void adapter.replace(collection, filter, doc),
    remove: async (collection, filter) => void adapter.remove(collection, filter),
    dispose: () => adapter.close(),
  };
});

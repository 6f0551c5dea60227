import { RedisScopeStore } from '../../src/storage/redis/index.js';
import { scopeStoreContract, type ContractSetup } from './contract.js';
import { connectRedis, RUN_ID, type RedisClient } from './services.js';

const prefix = `particle:test:${RUN_ID}:`;
const first = await connectRedis();

async function setup(): Promise<ContractSetup> {
  if (typeof first === 'string') return { unavailable: first };
  const clients: RedisClient[] = [first];
  return {
    async open() {
      // Each store instance gets its own connection, as separate processes would.
      const client = await connectRedis();
      if (typeof client === 'string') throw new Error(client);
      clients.push(client);
      return new RedisScopeStore({ client, prefix });
    },
    async cleanup() {
      const keys = await first.keys(`${prefix}*`);
      if (keys.length > 0) await first.del(keys);
      await Promise.all(clients.map((client) => client.close()));
    },
  };
}

scopeStoreContract('redis', await setup());

import type { Pool } from 'mysql2/promise';
import { MySqlScopeStore } from '../../src/storage/mysql/index.js';
import { scopeStoreContract, type ContractSetup } from './contract.js';
import { connectMySql, RUN_ID } from './services.js';

const table = `particle_scopes_test_${RUN_ID}`;
const first = await connectMySql();

async function setup(): Promise<ContractSetup> {
  if (typeof first === 'string') return { unavailable: first };
  const pools: Pool[] = [first];
  return {
    async open() {
      // Each store instance gets its own pool, as separate processes would.
      const pool = await connectMySql();
      if (typeof pool === 'string') throw new Error(pool);
      pools.push(pool);
      return new MySqlScopeStore({ pool, table, pollMs: 50 });
    },
    async cleanup() {
      await first.query(`DROP TABLE IF EXISTS \`${table}\``);
      await Promise.all(pools.map((pool) => pool.end()));
    },
  };
}

scopeStoreContract('mysql', await setup());

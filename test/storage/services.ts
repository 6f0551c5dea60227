import { createPool, type Pool } from 'mysql2/promise';
import { createClient } from 'redis';

/** The machine's Redis and MariaDB, as the project's services provide them. */
export const REDIS_URL = 'redis://127.0.0.1:6379';
export const MYSQL_CONFIG = {
  host: '127.0.0.1',
  port: 3306,
  user: 'root',
  password: '',
  database: 'test',
};

/** A random suffix for this run's keys and tables. */
export const RUN_ID = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

const makeRedisClient = () =>
  createClient({ url: REDIS_URL, socket: { connectTimeout: 2000, reconnectStrategy: false } });

export type RedisClient = ReturnType<typeof makeRedisClient>;

/** A connected Redis client, or the reason none could be made. */
export async function connectRedis(): Promise<RedisClient | string> {
  const client = makeRedisClient();
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch (error) {
    client.destroy();
    return `Redis at ${REDIS_URL} is unreachable (${String(error)})`;
  }
}

/** A pool on the test database, checked with one query, or the reason none could be made. */
export async function connectMySql(): Promise<Pool | string> {
  const pool = createPool({ ...MYSQL_CONFIG, connectionLimit: 8, connectTimeout: 2000 });
  try {
    await pool.query('SELECT 1');
    return pool;
  } catch (error) {
    await pool.end().catch(() => {});
    return `MariaDB at ${MYSQL_CONFIG.host}:${MYSQL_CONFIG.port} is unreachable (${String(error)})`;
  }
}

/** The machine's Redis and MariaDB, as the project's services provide them (P12). */
export const REDIS_URL = 'redis://127.0.0.1:6379';
export const MYSQL_CONFIG = {
  host: '127.0.0.1',
  port: 3306,
  user: 'root',
  password: '',
  database: 'test',
};

/** How a report names each service. */
export const SERVICE_NAMES = {
  redis: `Redis at ${REDIS_URL}`,
  mysql: `MariaDB at ${MYSQL_CONFIG.host}:${MYSQL_CONFIG.port}`,
};

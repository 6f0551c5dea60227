// The public surface, listed on purpose: every name each entry's types export. A change here
// is a change to the public API (add it to DESIGN/README first), never a side effect.
import { readFileSync } from 'node:fs';

const expected = {
  protocol: [
    'CLOSE_CODES',
    'ClientMessage',
    'DeltaMessage',
    'DeltaMessageSchema',
    'Doc',
    'DocSchema',
    'ERROR_CODES',
    'ErrorMessage',
    'ErrorMessageSchema',
    'HeartbeatMessage',
    'HeartbeatMessageSchema',
    'Id',
    'IdSchema',
    'InsertOp',
    'InsertOpSchema',
    'Manifest',
    'ManifestMessage',
    'ManifestMessageSchema',
    'ManifestSchema',
    'Op',
    'OpSchema',
    'PROTOCOL_VERSION',
    'ParseResult',
    'ParticleError',
    'ParticleErrorCode',
    'Path',
    'PayloadMessage',
    'PayloadMessageSchema',
    'RegisterMessage',
    'RegisterMessageSchema',
    'RegisteredMessage',
    'RegisteredMessageSchema',
    'RemoveOp',
    'RemoveOpSchema',
    'ResumedMessage',
    'ResumedMessageSchema',
    'RootOptions',
    'RootOptionsSchema',
    'RootPosition',
    'RootPositionSchema',
    'SUBSCRIPTION_ERROR_CODES',
    'SUB_ID_PATTERN',
    'ServerMessage',
    'SetOp',
    'SetOpSchema',
    'Sort',
    'SortSchema',
    'SubIdSchema',
    'SubscribeMessage',
    'SubscribeMessageSchema',
    'SubscribedMessage',
    'SubscribedMessageSchema',
    'SubscriptionErrorCode',
    'SubscriptionErrorMessage',
    'SubscriptionErrorMessageSchema',
    'TERMINAL_CLOSE_CODES',
    'UnsetOp',
    'UnsetOpSchema',
    'UnsubscribeMessage',
    'UnsubscribeMessageSchema',
    'UnsubscribedMessage',
    'UnsubscribedMessageSchema',
    'WireErrorCode',
    'canonicalJson',
    'closeCodeFor',
    'isIndex',
    'joinPath',
    'parseClientMessage',
    'parseServerMessage',
    'schemas',
    'splitPath',
    'subscriptionKey',
  ],
  server: [
    'Adapter',
    'AuthorizeContext',
    'CacheConfig',
    'Change',
    'DataSource',
    'Doc',
    'FindOptions',
    'IdentityLookup',
    'IdentityRequest',
    'MemoryAdapter',
    'MemoryAdapterOptions',
    'ParticleError',
    'ParticleMiddleware',
    'ParticleMiddlewareOptions',
    'Schema',
    'SnapshotOptions',
    'StandardResult',
    'StandardSchema',
    'StopWatching',
    'Stream',
    'StreamOptions',
    'StreamStats',
    'Unregister',
    'UpdateDocument',
    'WindowLimit',
    'particleMiddleware',
  ],
  'server/mongo': [
    'ChangeEvent',
    'MongoAdapter',
    'MongoAdapterOptions',
    'REPLICA_SET_REQUIRED',
    'WireValue',
    'mapChangeEvent',
    'toWire',
  ],
  client: [
    'COLLECTOR_DEFAULTS',
    'Collector',
    'CollectorData',
    'CollectorEvent',
    'CollectorListener',
    'CollectorNotice',
    'CollectorOptions',
    'CollectorStatus',
    'Doc',
    'Id',
    'NoticeListener',
    'ParticleError',
    'ParticleErrorCode',
    'ReadyCallback',
    'ReadyOptions',
    'ReconnectOptions',
    'RegisterTransport',
    'WebSocketClass',
    'WebSocketLike',
  ],
  react: [
    'InitialData',
    'ParticlePath',
    'ParticleProvider',
    'ParticleProviderCollectorProps',
    'ParticleProviderOptionsProps',
    'ParticleProviderProps',
    'ParticleStatus',
    'useCollector',
    'useParticle',
    'useParticleStatus',
  ],
  storage: [
    'DEFAULT_FILE_POLL_MS',
    'DEFAULT_FILE_STALE_LOCK_MS',
    'DEFAULT_SCOPE_RETRY',
    'FileScopeStore',
    'FileScopeStoreOptions',
    'MAX_SCOPE_NAME_BYTES',
    'MemoryScopeStore',
    'ParticleError',
    'ScopeCommit',
    'ScopeCommitListener',
    'ScopeData',
    'ScopeJson',
    'ScopeRecord',
    'ScopeRetryOptions',
    'ScopeStore',
    'ScopedOptions',
    'Scopes',
    'ScopesOptions',
    'assertScopeName',
  ],
  'storage/redis': [
    'DEFAULT_REDIS_SCOPE_PREFIX',
    'RedisScopeClient',
    'RedisScopeStore',
    'RedisScopeStoreOptions',
    'RedisScopeSubscriber',
    'RedisScriptOptions',
  ],
  'storage/mysql': [
    'DEFAULT_MYSQL_POLL_MS',
    'DEFAULT_MYSQL_SCOPE_TABLE',
    'MySqlScopeStore',
    'MySqlScopeStoreOptions',
  ],
};
const internal =
  /\b(?:class|interface) (?:Group|Session|SessionRoot|Backlog|Resolution|Views|Sink)\b/;

let failed = false;
for (const [entry, names] of Object.entries(expected)) {
  const types = readFileSync(`dist/${entry}/index.d.ts`, 'utf8');
  const exported = [...types.matchAll(/^export \{([^}]*)\}/gm)]
    .flatMap((m) => m[1].split(','))
    .map((s) =>
      s
        .trim()
        .replace(/^type /, '')
        .split(' as ')
        .pop(),
    )
    .filter(Boolean)
    .sort();
  const added = exported.filter((n) => !names.includes(n));
  const removed = names.filter((n) => !exported.includes(n));
  if (added.length || removed.length) {
    failed = true;
    console.log(
      `particle-sync/${entry}: added ${added.join(', ') || '-'}; removed ${removed.join(', ') || '-'}`,
    );
  }
  if (internal.test(types)) {
    failed = true;
    console.log(
      `particle-sync/${entry}: its types declare an internal class (${internal.exec(types)[0]})`,
    );
  }
}
console.log(failed ? 'public exports changed' : 'public exports: as listed');
process.exit(failed ? 1 : 0);

// The one place src/react reaches the Collector: through the client's public entry, the module
// published as `particle/client`. Deep imports into src/client stay forbidden by lint; the rule's
// pattern also covers this entry, which it means to allow.
// eslint-disable-next-line no-restricted-imports
export {
  Collector,
  type CollectorNotice,
  type CollectorOptions,
  type CollectorStatus,
} from '../client/index.js';

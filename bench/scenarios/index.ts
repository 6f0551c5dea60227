import { p15 } from './capacity.js';
import { p4, p4react } from './client.js';
import { p1, p2 } from './fanout.js';
import { p3 } from './matching.js';
import { p6, p7 } from './memory.js';
import { p10, p9 } from './mutations.js';
import { p5 } from './payload.js';
import { p11 } from './produced.js';
import { s1, s2 } from './peers.js';
import { p14 } from './reactive.js';
import { p12 } from './scopes.js';
import { p8 } from './store.js';
import { p13churn, p13memory, p13ready } from './windows.js';

/** Every measurement a benchmark process can run, by name. */
export const jobs = {
  p1,
  p2,
  p3,
  p4,
  p4react,
  p5,
  p6,
  p7,
  p8,
  p9,
  p10,
  p11,
  p12,
  p13ready,
  p13churn,
  p13memory,
  p14,
  p15,
  s1,
  s2,
};

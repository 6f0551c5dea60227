import EventEmitter2Module from 'eventemitter2';
import type { CollectorData, CollectorEvent, CollectorListener } from './types.js';

const { EventEmitter2 } = EventEmitter2Module;

/**
 * Whether a listener pattern matches an event name, both as segments: `*` is exactly one
 * segment, `**` is zero or more.
 */
export function matchPattern(pattern: readonly string[], name: readonly string[]): boolean {
  let p = 0;
  let n = 0;
  // Backtracking points for the last `**` seen: where it stood and how much it has swallowed.
  let starP = -1;
  let starN = 0;
  while (n < name.length || p < pattern.length) {
    const segment = pattern[p];
    if (segment === '**') {
      starP = p++;
      starN = n;
      continue;
    }
    if (n < name.length && (segment === '*' || segment === name[n])) {
      p++;
      n++;
      continue;
    }
    if (starP === -1 || starN >= name.length) return false;
    p = starP + 1;
    n = ++starN;
  }
  return true;
}

// Every route and name starts with this segment, so no event is ever named `error`,
// `newListener` or `removeListener`, which EventEmitter2 treats specially.
const TOP = 'particle';

type Registration = { pattern: string; listener: CollectorListener; route: string[] };

type Dispatch = (data: CollectorData, event: CollectorEvent, name: readonly string[]) => void;

/**
 * Listener patterns over event names (`root` then the op's path segments), dispatched through
 * EventEmitter2's wildcard tree so an event reaches only the branches that can match it.
 *
 * EventEmitter2 and the documented semantics part on some corners: it misses `a.**.b` when `b`
 * repeats inside the name, matches `a.*.**` against `a`, and never matches `**.**`. So each
 * listener is registered in the tree under a route EventEmitter2 gets right (the pattern up to
 * its first `**`, then `**`) and checks the exact pattern itself before it runs. Names are
 * passed as segment arrays, so a root name is one segment whatever it holds.
 */
export class Listeners {
  readonly #emitter = new EventEmitter2({ wildcard: true, delimiter: '.', maxListeners: 0 });
  readonly #registrations = new Map<Registration, Dispatch>();
  readonly #report: (error: unknown, pattern: string) => void;

  /** `report` receives what a listener throws; the others still run. */
  constructor(report: (error: unknown, pattern: string) => void) {
    this.#report = report;
  }

  /** Adds a listener; returns a function that removes exactly this registration. */
  on(pattern: string, listener: CollectorListener): () => void {
    if (typeof pattern !== 'string' || pattern === '') {
      throw new TypeError('collector.on: pattern must be a non-empty string such as "users.**"');
    }
    if (typeof listener !== 'function') {
      throw new TypeError('collector.on: listener must be a function (data, event) => void');
    }
    const segments = pattern.split('.').filter((s, i, all) => !(s === '**' && all[i - 1] === '**'));
    const firstDeep = segments.indexOf('**');
    const route = [TOP, ...(firstDeep === -1 ? segments : [...segments.slice(0, firstDeep), '**'])];
    const exact = !segments.some((s) => s === '*' || s === '**');
    const registration: Registration = { pattern, listener, route };
    const dispatch: Dispatch = (data, event, name) => {
      if (!exact && !matchPattern(segments, name)) return;
      try {
        listener(data, event);
      } catch (error) {
        this.#report(error, pattern);
      }
    };
    this.#registrations.set(registration, dispatch);
    this.#emitter.on(route, dispatch);
    return () => this.#remove(registration);
  }

  /** Removes one registration of `listener` under `pattern` (the latest one). */
  off(pattern: string, listener: CollectorListener): void {
    let found: Registration | undefined;
    for (const registration of this.#registrations.keys()) {
      if (registration.pattern === pattern && registration.listener === listener) {
        found = registration;
      }
    }
    if (found !== undefined) this.#remove(found);
  }

  /** Calls every listener whose pattern matches `name`. */
  emit(name: readonly string[], data: CollectorData, event: CollectorEvent): void {
    if (this.#registrations.size === 0) return;
    this.#emitter.emit([TOP, ...name], data, event, name);
  }

  #remove(registration: Registration): void {
    const dispatch = this.#registrations.get(registration);
    if (dispatch === undefined) return;
    this.#registrations.delete(registration);
    this.#emitter.off(registration.route, dispatch);
  }
}

'use client';
import { useEffect, useRef, useState, type ReactElement, type ReactNode } from 'react';
import { Collector, type CollectorOptions } from './client.js';
import { ParticleContext } from './context.js';
import { stableKey } from './stableKey.js';
import { createParticleStore, type InitialData, type ParticleStore } from './store.js';

interface ProviderCommonProps {
  /**
   * Data to render before the live payload of each root arrives, usually
   * `await stream.snapshot(identity)` passed down from the server. Server rendering and
   * hydration read only this, so both produce the same markup. It belongs to the current
   * identity: after `identity` (or `collector`) changes it is dropped, unless a new
   * `initialData` object arrives with the change.
   */
  initialData?: InitialData | undefined;
  /**
   * How long a subscription made by `useSubscription` or `useParticle(name, params)` outlives
   * the component that made it, in milliseconds: StrictMode's double mount and a quick
   * navigation back then send no extra frames. Read when the provider's store is made.
   * @default 2000
   */
  unsubscribeDelayMs?: number | undefined;
  children?: ReactNode;
}

/** Props of a provider that uses a Collector its caller made and will disconnect. */
export interface ParticleProviderCollectorProps extends ProviderCommonProps {
  /** The collector to read; the provider never disconnects it. */
  collector: Collector;
}

/**
 * Props of a provider that creates its own Collector from these options. It connects in an effect
 * (never during server rendering), disconnects on unmount, and makes a new one when `identity`
 * changes by value. The other options are read when a collector is made: to change `url`,
 * give the provider a new `key`.
 */
export type ParticleProviderOptionsProps = ProviderCommonProps &
  CollectorOptions & { collector?: undefined };

/** Props of {@link ParticleProvider}: either `collector`, or the options to create one. */
export type ParticleProviderProps = ParticleProviderCollectorProps | ParticleProviderOptionsProps;

interface ProviderState {
  readonly collector: Collector | undefined;
  readonly identityKey: string | undefined;
  readonly initialData: InitialData | undefined;
  readonly store: ParticleStore<Collector>;
}

function identityKeyOf(props: ParticleProviderProps): string | undefined {
  return props.collector === undefined ? stableKey(props.identity) : undefined;
}

function stateFor(
  props: ParticleProviderProps,
  identityKey: string | undefined,
  previous?: ProviderState,
): ProviderState {
  const collector = props.collector;
  // A new identity must not show the previous identity's server data.
  const initialData =
    previous === undefined || props.initialData !== previous.initialData
      ? props.initialData
      : undefined;
  return {
    collector,
    identityKey,
    initialData: props.initialData,
    store: createParticleStore<Collector>({
      initialData,
      collector,
      idFieldOf,
      unsubscribeDelayMs: props.unsubscribeDelayMs,
    }),
  };
}

function idFieldOf(collector: Collector | undefined, root: string): string {
  return collector?.idField(root) ?? '_id';
}

function createCollector(props: ParticleProviderOptionsProps): Collector {
  // A relative `url` resolves against the page's location inside the Collector.
  const {
    initialData: _initialData,
    children: _children,
    collector: _collector,
    unsubscribeDelayMs: _unsubscribeDelayMs,
    ...options
  } = props;
  return new Collector(options);
}

/**
 * Makes a Collector's data available to `useParticle`, `useSubscription`, `useParticleStatus`
 * and `useCollector` below it. Give it `collector`, or the Collector options (`url` or `register`, `identity`, ...)
 * to let it own one. Each provider has its own store: nothing is shared between providers or
 * between server requests.
 *
 * A refused identity does not throw: `useParticleStatus()` becomes `'error'` and
 * `useCollector()?.error` holds a `ParticleError` whose `code` says why
 * (`identity_rejected`, `bad_identity`, ...).
 */
export function ParticleProvider(props: ParticleProviderProps): ReactElement {
  const identityKey = identityKeyOf(props);
  const [state, setState] = useState(() => stateFor(props, identityKey));
  let current = state;
  if (props.collector !== state.collector || identityKey !== state.identityKey) {
    // Derived from props during render (React's documented pattern), so the very render that
    // sees a new identity already reads a fresh store and never the previous identity's data.
    current = stateFor(props, identityKey, state);
    setState(current);
  }

  // A collector whose effect was cleaned up, kept for one microtask: StrictMode runs
  // mount, cleanup, mount in one go, and the second mount takes it back instead of opening
  // a second socket. A real unmount or an identity change disconnects it.
  const parked = useRef<{ store: ParticleStore<Collector>; collector: Collector } | undefined>(
    undefined,
  );
  const { store } = current;
  useEffect(() => {
    if (props.collector !== undefined) return;
    const previous = parked.current;
    parked.current = undefined;
    let collector: Collector;
    if (previous !== undefined && previous.store === store) {
      collector = previous.collector;
    } else {
      previous?.collector.disconnect();
      collector = createCollector(props);
    }
    store.attach(collector);
    return () => {
      parked.current = { store, collector };
      queueMicrotask(() => {
        if (parked.current?.collector !== collector) return;
        parked.current = undefined;
        collector.disconnect();
      });
    };
    // A new store comes with every new identity or `collector` prop; the other options are read
    // once per store (see ParticleProviderOptionsProps).
    // eslint-disable-next-line react-hooks/exhaustive-deps -- the other options are read once per store (above)
  }, [store]);

  return <ParticleContext.Provider value={store}>{props.children}</ParticleContext.Provider>;
}

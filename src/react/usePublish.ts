import { useEffect, useRef, useState } from 'react';
import type { MutationError, Publication } from './client.js';
import { useCollector } from './useCollector.js';

/** What {@link usePublish} returns. */
export interface PublishState {
  /** Why the server refused the last value (it holds nothing then); `null` otherwise. */
  readonly error: MutationError | null;
}

/**
 * Publishes `value` into the published source `source` (`params` name the instance, such as a
 * room) while the component is mounted, and updates it when `value` changes (by content,
 * throttled to the collector's `publishIntervalMs`). `null` or `undefined` publishes nothing.
 * Unmounting, or another source or params, stops the publication.
 *
 * @throws Error when called outside `<ParticleProvider>`.
 */
export function usePublish(
  source: string,
  params: unknown,
  value: Record<string, unknown> | null | undefined,
): PublishState {
  const collector = useCollector();
  const paramsKey = params === undefined ? '' : JSON.stringify(params);
  const valueKey = value === null || value === undefined ? null : JSON.stringify(value);
  const publication = useRef<{ pub: Publication; valueKey: string } | null>(null);
  const [error, setError] = useState<MutationError | null>(null);
  const active = valueKey !== null;
  useEffect(() => {
    if (!collector || valueKey === null) return;
    const pub = collector.publish(
      source,
      paramsKey === '' ? undefined : JSON.parse(paramsKey),
      JSON.parse(valueKey) as Record<string, unknown>,
    );
    publication.current = { pub, valueKey };
    const off = collector.onNotice((notice) => {
      if (notice.type === 'publication') setError(pub.error);
    });
    return () => {
      off();
      pub.stop();
      publication.current = null;
      setError(null);
    };
    // A value change is an update of this publication (below), not a new one.
    // eslint-disable-next-line react-hooks/exhaustive-deps -- a new value is an update of this publication (below), not a new one
  }, [collector, source, paramsKey, active]);
  useEffect(() => {
    const current = publication.current;
    if (!current || valueKey === null || current.valueKey === valueKey) return;
    current.valueKey = valueKey;
    current.pub.update(JSON.parse(valueKey) as Record<string, unknown>);
  }, [valueKey]);
  return { error };
}

'use client';
import { useCallback, useState } from 'react';

/**
 * Sends one write to the REST API. It deliberately returns no data: the page shows what the
 * server then sends through Particle, to this page and to every other page that may see it.
 */
export function useWrite() {
  const [error, setError] = useState<string>();
  const write = useCallback(
    async (method: 'POST' | 'PATCH' | 'DELETE', url: string, body?: object) => {
      setError(undefined);
      const response = await fetch(url, {
        method,
        headers: body ? { 'content-type': 'application/json' } : {},
        body: body ? JSON.stringify(body) : null,
      });
      if (!response.ok) {
        const answer = (await response.json().catch(() => null)) as { error?: string } | null;
        setError(answer?.error ?? `${response.status} ${response.statusText}`);
      }
      return response.ok;
    },
    [],
  );
  return { write, error };
}

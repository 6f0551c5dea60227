/**
 * Waits `ms` milliseconds so that a test can prove something does NOT happen: an unwanted
 * message, write or call that would have come within that time. This is the one place a test
 * may sleep; a test that waits for something to happen waits for that thing instead
 * (`vi.waitFor`, a client's `until`, a promise or an event). Where it can, a test anchors the
 * absence to a later positive event (waits for something that would have come after the unwanted
 * one) and keeps `quietFor` for what no such event follows.
 */
export function quietFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

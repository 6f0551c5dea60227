/**
 * `value` as it will travel (a JSON round trip), so later changes to the caller's object cannot
 * reach what is sent again after a reconnect. `what` names it in the TypeError for a value JSON
 * cannot carry.
 */
export function jsonCopy(value: unknown, what: string): unknown {
  if (value === undefined) return undefined;
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new TypeError(`${what} must be JSON-serializable`, { cause: error });
  }
  if (text === undefined) throw new TypeError(`${what} must be JSON-serializable (an object)`);
  return JSON.parse(text) as unknown;
}

/** A path into the data: `'users.7.name'` or `['users', 7, 'name']` (array form for ids holding dots). */
export type Path = string | readonly (string | number)[];

/** Splits a dotted path into segments; the array form is returned as a copy. */
export function splitPath(path: Path): (string | number)[] {
  if (typeof path !== 'string') return [...path];
  return path === '' ? [] : path.split('.');
}

/** Joins segments into a dotted path. */
export function joinPath(segments: readonly (string | number)[]): string {
  return segments.join('.');
}

/** True when a path segment addresses an array element. */
export function isIndex(segment: string | number): boolean {
  return typeof segment === 'number' ? Number.isInteger(segment) : /^(0|[1-9]\d*)$/.test(segment);
}

/**
 * MongoDB's field update operators, one function each: given the slot a path names and the
 * operator's argument for it, change the slot in place and say whether anything changed.
 */
import { Query } from 'mingo';
import { compare } from 'mingo/util';
import { cloneDeep, deepEqual, getPath, isPlainObject } from '../clone.js';
import { ParticleError } from '../../protocol/errors.js';
import { get, has, set, unset, type Slot } from './paths.js';

/** What every operator of one update call shares: made once per call, not once per field. */
export interface UpdateContext {
  /** The time `$currentDate` writes, one per update call. */
  readonly now: Date;
  /** The path being applied, for error messages (set before each `apply`). */
  path: string;
}

/** One operator: applies `arg` at `slot` and says whether the document changed. */
export interface FieldOperator {
  /** Whether the operator writes a missing field (so missing parents are created). */
  readonly creates: boolean;
  /** Rejects a malformed argument before anything is applied. */
  check?(arg: unknown, path: string): void;
  apply(slot: Slot, arg: unknown, ctx: UpdateContext): boolean;
}

function bad(message: string): ParticleError {
  return new ParticleError('config', message);
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v);

function numeric(op: string): NonNullable<FieldOperator['check']> {
  return (arg, path) => {
    if (!isNumber(arg)) throw bad(`${op} needs a number for '${path}'`);
  };
}

function arrayAt(slot: Slot, op: string, path: string): unknown[] | undefined {
  const value = get(slot);
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw bad(`${op} needs an array at '${path}'`);
  return value as unknown[];
}

function arithmetic(
  op: string,
  fn: (old: number, arg: number) => number,
  missing: (arg: number) => number,
): FieldOperator {
  return {
    creates: true,
    check: numeric(op),
    apply(slot, arg, ctx) {
      const old = get(slot);
      if (old === undefined) {
        set(slot, missing(arg as number));
        return true;
      }
      if (typeof old !== 'number') throw bad(`${op} needs a number at '${ctx.path}'`);
      const next = fn(old, arg as number);
      set(slot, next);
      return next !== old;
    },
  };
}

function bound(keep: (order: number) => boolean): FieldOperator {
  return {
    creates: true,
    apply(slot, arg) {
      if (has(slot) && keep(compare(get(slot), arg))) return false;
      set(slot, cloneDeep(arg));
      return true;
    },
  };
}

const MODIFIERS = ['$each', '$slice', '$sort', '$position'];

interface PushSpec {
  each: unknown[];
  slice?: number;
  sort?: unknown;
  position?: number;
}

function pushSpec(arg: unknown, path: string): PushSpec {
  if (!isPlainObject(arg) || !MODIFIERS.some((m) => Object.hasOwn(arg, m))) return { each: [arg] };
  for (const key of Object.keys(arg)) {
    if (!MODIFIERS.includes(key)) throw bad(`$push does not know the modifier ${key} ('${path}')`);
  }
  const { $each, $slice, $sort, $position } = arg;
  if (!Array.isArray($each)) throw bad(`$push modifiers need an $each array ('${path}')`);
  if ($slice !== undefined && !Number.isInteger($slice))
    throw bad(`$slice must be an integer ('${path}')`);
  if ($position !== undefined && !Number.isInteger($position)) {
    throw bad(`$position must be an integer ('${path}')`);
  }
  if ($sort !== undefined && $sort !== 1 && $sort !== -1 && !isSortDocument($sort)) {
    throw bad(`$sort must be 1, -1 or a document of 1 and -1 ('${path}')`);
  }
  return {
    each: $each,
    ...($slice === undefined ? {} : { slice: $slice as number }),
    ...($sort === undefined ? {} : { sort: $sort }),
    ...($position === undefined ? {} : { position: $position as number }),
  };
}

function isSortDocument(value: unknown): value is Record<string, 1 | -1> {
  return (
    isPlainObject(value) &&
    Object.keys(value).length > 0 &&
    Object.values(value).every((v) => v === 1 || v === -1)
  );
}

function sorter(sort: unknown): (a: unknown, b: unknown) => number {
  if (sort === 1 || sort === -1) return (a, b) => sort * compare(a, b);
  const keys = Object.entries(sort as Record<string, 1 | -1>);
  return (a, b) => {
    for (const [key, order] of keys) {
      const c = compare(getPath(a, key), getPath(b, key));
      if (c !== 0) return order * c;
    }
    return 0;
  };
}

const $push: FieldOperator = {
  creates: true,
  check: (arg, path) => void pushSpec(arg, path),
  apply(slot, arg, { path }) {
    const spec = pushSpec(arg, path);
    const old = arrayAt(slot, '$push', path);
    const arr = old ? old.slice() : [];
    const items = spec.each.map(cloneDeep);
    if (spec.position === undefined) arr.push(...items);
    else arr.splice(spec.position, 0, ...items);
    if (spec.sort !== undefined) arr.sort(sorter(spec.sort));
    const sliced =
      spec.slice === undefined
        ? arr
        : spec.slice >= 0
          ? arr.slice(0, spec.slice)
          : arr.slice(Math.max(0, arr.length + spec.slice));
    if (old && deepEqual(old, sliced)) return false;
    set(slot, sliced);
    return true;
  },
};

const $addToSet: FieldOperator = {
  creates: true,
  check(arg, path) {
    if (isPlainObject(arg) && Object.hasOwn(arg, '$each') && !Array.isArray(arg.$each)) {
      throw bad(`$addToSet needs an $each array ('${path}')`);
    }
  },
  apply(slot, arg, { path }) {
    const each =
      isPlainObject(arg) && Object.hasOwn(arg, '$each') ? (arg.$each as unknown[]) : [arg];
    const old = arrayAt(slot, '$addToSet', path);
    const arr = old ? old.slice() : [];
    for (const item of each) if (!arr.some((x) => deepEqual(x, item))) arr.push(cloneDeep(item));
    if (old && arr.length === old.length) return false;
    set(slot, arr);
    return true;
  },
};

/** The element test of a `$pull` condition, as MongoDB reads it. */
function pullTest(cond: unknown): (value: unknown) => boolean {
  if (isPlainObject(cond)) {
    if (Object.keys(cond).some((k) => k.startsWith('$'))) {
      const q = new Query({ v: cond });
      return (v) => q.test({ v });
    }
    const q = new Query(cond);
    return (v) => isPlainObject(v) && q.test(v);
  }
  return (v) => deepEqual(v, cond);
}

function removing(op: string, test: (arg: unknown) => (value: unknown) => boolean): FieldOperator {
  return {
    creates: false,
    apply(slot, arg, { path }) {
      const old = arrayAt(slot, op, path);
      if (!old) return false;
      const matches = test(arg);
      const kept = old.filter((v) => !matches(v));
      if (kept.length === old.length) return false;
      set(slot, kept);
      return true;
    },
  };
}

/** Every field operator this store applies itself. */
export const FIELD_OPERATORS: Readonly<Record<string, FieldOperator>> = {
  $set: {
    creates: true,
    apply(slot, arg) {
      if (has(slot) && deepEqual(get(slot), arg)) return false;
      set(slot, cloneDeep(arg));
      return true;
    },
  },
  $unset: {
    creates: false,
    apply(slot) {
      if (!has(slot)) return false;
      const old = get(slot);
      unset(slot);
      return !(slot.index >= 0 && old === null);
    },
  },
  $inc: arithmetic(
    '$inc',
    (old, arg) => old + arg,
    (arg) => arg,
  ),
  $mul: arithmetic(
    '$mul',
    (old, arg) => old * arg,
    () => 0,
  ),
  $min: bound((order) => order <= 0),
  $max: bound((order) => order >= 0),
  $push,
  $addToSet,
  $pull: removing('$pull', pullTest),
  $pullAll: {
    ...removing('$pullAll', (arg) => (v) => (arg as unknown[]).some((x) => deepEqual(x, v))),
    check(arg, path) {
      if (!Array.isArray(arg)) throw bad(`$pullAll needs an array for '${path}'`);
    },
  },
  $pop: {
    creates: false,
    check(arg, path) {
      if (arg !== 1 && arg !== -1) throw bad(`$pop needs 1 or -1 for '${path}'`);
    },
    apply(slot, arg, { path }) {
      const old = arrayAt(slot, '$pop', path);
      if (!old || old.length === 0) return false;
      set(slot, arg === 1 ? old.slice(0, -1) : old.slice(1));
      return true;
    },
  },
  $currentDate: {
    creates: true,
    check(arg, path) {
      const ok =
        arg === true || (isPlainObject(arg) && (arg.$type === 'date' || arg.$type === 'timestamp'));
      if (!ok)
        throw bad(`$currentDate needs true or { $type: 'date' | 'timestamp' } for '${path}'`);
    },
    apply(slot, arg, ctx) {
      const timestamp = isPlainObject(arg) && arg.$type === 'timestamp';
      set(slot, timestamp ? ctx.now.getTime() : new Date(ctx.now.getTime()));
      return true;
    },
  },
};

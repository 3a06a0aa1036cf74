import type { JsonValue, Operator, Requirement } from './types.js'

// Requirements compiled once into closures over pre-split paths and Sets, so a
// request runs only property reads and comparisons. Comparisons are typed: a
// number never equals a string, and an absent path fails every operator but
// `!exists` (DESIGN.md).

type Obj = Record<string, JsonValue>
export type Check = (source: Obj) => boolean

const ABSENT = Symbol('absent')

/** `"a.b.c"` → `['a', 'b', 'c']`; a list is taken as the segments already. */
export function splitPath (path: string | string[]): string[] {
  return typeof path === 'string' ? path.split('.') : path.slice()
}

export function formatPath (path: string | string[]): string {
  return typeof path === 'string' ? path : path.join('.')
}

/** Own properties only: `__proto__` or `constructor` in a path never reach the prototype. */
export function getPath (source: Obj, segments: readonly string[]): JsonValue | typeof ABSENT {
  let cur: JsonValue = source
  for (let i = 0; i < segments.length; i++) {
    if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) return ABSENT
    const key = segments[i] as string
    if (!Object.hasOwn(cur, key)) return ABSENT
    cur = (cur as Obj)[key] as JsonValue
  }
  return cur
}

export function readPath (source: Obj, segments: readonly string[]): JsonValue | undefined {
  const v = getPath(source, segments)
  return v === ABSENT ? undefined : v
}

function isScalar (v: unknown): v is string | number | boolean | null {
  return v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
}

export function deepEqual (a: JsonValue, b: JsonValue): boolean {
  if (a === b) return true
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!deepEqual(a[i] as JsonValue, b[i] as JsonValue)) return false
    return true
  }
  if (Array.isArray(b)) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  for (const k of ka) {
    if (!Object.hasOwn(b, k) || !deepEqual(a[k] as JsonValue, b[k] as JsonValue)) return false
  }
  return true
}

/** A scalar claim is a one-element list for `in` and `intersect`. */
function asList (v: JsonValue): JsonValue[] {
  return Array.isArray(v) ? v : [v]
}

/**
 * Validates one requirement (throws a message naming what is wrong) and
 * compiles it. `where` is the option path for messages, e.g. `requireClaims[2]`.
 */
export function compileRequirement (req: Requirement, where: string): Check {
  const segments = splitPath(req.claim)
  if (segments.length === 0 || segments.some((s) => s.length === 0)) {
    throw new Error(`${where}.claim: ${JSON.stringify(req.claim)} is not a valid path`)
  }
  const op: Operator = req.op
  const value = req.value
  const hasValue = Object.hasOwn(req, 'value')

  switch (op) {
    case 'exists':
    case '!exists': {
      if (hasValue) throw new Error(`${where}.value: '${op}' takes no value`)
      return op === 'exists'
        ? (src) => getPath(src, segments) !== ABSENT
        : (src) => getPath(src, segments) === ABSENT
    }
    case 'eq':
    case '!eq': {
      if (!hasValue || value === undefined) throw new Error(`${where}.value: '${op}' needs a value`)
      const want = value
      const eq = isScalar(want)
        ? (v: JsonValue) => v === want
        : (v: JsonValue) => deepEqual(v, want)
      return op === 'eq'
        ? (src) => { const v = getPath(src, segments); return v !== ABSENT && eq(v) }
        : (src) => { const v = getPath(src, segments); return v !== ABSENT && !eq(v) }
    }
    case 'gt':
    case 'ge':
    case 'lt':
    case 'le': {
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Error(`${where}.value: '${op}' compares numbers, got ${JSON.stringify(value)}`)
      }
      const n = value
      const cmp = op === 'gt'
        ? (v: number) => v > n
        : op === 'ge' ? (v: number) => v >= n : op === 'lt' ? (v: number) => v < n : (v: number) => v <= n
      return (src) => { const v = getPath(src, segments); return typeof v === 'number' && cmp(v) }
    }
    case 'in':
    case '!in':
    case 'intersect':
    case '!intersect': {
      if (!Array.isArray(value) || !value.every(isScalar)) {
        throw new Error(`${where}.value: '${op}' needs a list of strings, numbers, booleans or null, got ${JSON.stringify(value)}`)
      }
      // A Set compares with SameValueZero: 1 and '1' stay different, as typed comparisons require.
      const set = new Set<JsonValue>(value)
      // `in`: every element of the claim is in the list (a non-empty claim);
      // `intersect`: at least one is. The negations fail on an absent path too.
      const within = (v: JsonValue): boolean => {
        const list = asList(v)
        if (list.length === 0) return false
        for (let i = 0; i < list.length; i++) if (!set.has(list[i] as JsonValue)) return false
        return true
      }
      const meets = (v: JsonValue): boolean => {
        const list = asList(v)
        for (let i = 0; i < list.length; i++) if (set.has(list[i] as JsonValue)) return true
        return false
      }
      const test = op === 'in' || op === '!in' ? within : meets
      const negate = op[0] === '!'
      return (src) => {
        const v = getPath(src, segments)
        return v !== ABSENT && test(v) !== negate
      }
    }
    default:
      throw new Error(`${where}.op: unknown operator ${JSON.stringify(op)}`)
  }
}

// Header values: visible ASCII, space and tab, plus UTF-8 text above 0x7f.
// CR, LF and the other controls would split or smuggle headers (CWE-113).
// A char-code scan rather than a regex: this runs per forwarded header per request.
function hasControl (s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return true
  }
  return false
}

/**
 * A claim as a header value: strings as is, numbers and booleans as text,
 * arrays and objects as JSON. Null when absent or unsafe (control characters).
 */
export function headerValue (v: JsonValue | undefined): string | null {
  if (v === undefined || v === null) return null
  let s: string
  if (typeof v === 'object') {
    // JSON.stringify recurses: a claim nested a few thousand levels deep
    // overflows the stack, which answered 500 (issue 7). Not forwarded instead.
    try {
      s = JSON.stringify(v)
    } catch {
      return null
    }
  } else {
    s = typeof v === 'string' ? v : String(v)
  }
  return hasControl(s) ? null : s
}

import { RE2JS } from 're2js'
import type { JsonValue, Operator, Requirement, RequirementEntry } from './types.js'

// Requirements compiled once into closures over pre-parsed paths, Sets and
// compiled patterns, so a request runs only property reads and comparisons.
// Comparisons are typed: a number never equals a string, and an absent path
// fails every operator but `!exists` (DESIGN.md).

type Obj = Record<string, JsonValue>
export type Check = (source: Obj) => boolean

/** A parsed path: names, and array indexes as numbers. */
export type Segment = string | number

const ABSENT = Symbol('absent')

/** Default of `spaceDelimitedClaims`: OAuth `scope` (RFC 8693 §4.2, RFC 9068 §2.2.3) and Entra's `scp`. */
export const DEFAULT_SPACE_DELIMITED_CLAIMS: readonly string[] = Object.freeze(['scope', 'scp'])

/** Longest requirement value or claim value shown in a log line or by `explain`. */
const MAX_SHOWN = 200

// A name may hold anything but the path syntax itself; other names are quoted.
const BARE = /^[^.[\]"]+$/

/**
 * Parses a claim path once, at start: `a.b.c`, `roles[0]`, `realm_access.roles[1]`,
 * `a.b[2].c`, `"https://example.com/roles"` (a quoted name is a JSON string, so a
 * name may hold dots, brackets or `\"`). A list is taken as the names already
 * (the older form for names with dots). Throws a message saying what is wrong.
 */
export function parsePath (path: string | readonly string[]): Segment[] {
  if (typeof path !== 'string') {
    if (path.length === 0 || path.some((s) => typeof s !== 'string' || s.length === 0)) throw new Error('a list of path names must hold non-empty strings')
    return path.slice()
  }
  const out: Segment[] = []
  let i = 0
  const n = path.length
  if (n === 0) throw new Error('the path is empty')
  for (;;) {
    if (path[i] === '"') {
      // A JSON string: find its closing quote, skipping escapes.
      let j = i + 1
      while (j < n && path[j] !== '"') j += path[j] === '\\' ? 2 : 1
      if (j >= n) throw new Error(`unterminated quoted name at ${i}`)
      let name: string
      try {
        name = JSON.parse(path.slice(i, j + 1)) as string
      } catch {
        throw new Error(`invalid quoted name at ${i}`)
      }
      if (name.length === 0) throw new Error(`empty name at ${i}`)
      out.push(name)
      i = j + 1
    } else {
      let j = i
      while (j < n && path[j] !== '.' && path[j] !== '[' && path[j] !== '"' && path[j] !== ']') j++
      if (j === i) throw new Error(`empty name at ${i}`)
      out.push(path.slice(i, j))
      i = j
    }
    while (path[i] === '[') {
      const close = path.indexOf(']', i)
      const digits = close === -1 ? '' : path.slice(i + 1, close)
      if (!/^(0|[1-9]\d{0,8})$/.test(digits)) throw new Error(`an index is a whole number in brackets, at ${i}`)
      out.push(Number(digits))
      i = close + 1
    }
    if (i === n) return out
    if (path[i] !== '.') throw new Error(`unexpected ${JSON.stringify(path[i])} at ${i}`)
    i++
    if (i === n) throw new Error('the path ends with "."')
  }
}

/** Kept for callers of the older API: the parsed path. */
export function splitPath (path: string | string[]): Segment[] {
  return parsePath(path)
}

/** A path in the one syntax: bare names, quoted where needed, `[n]` for indexes. */
export function formatPath (path: string | readonly string[] | readonly Segment[]): string {
  if (typeof path === 'string') return path
  let out = ''
  for (const s of path) {
    if (typeof s === 'number') out += `[${s}]`
    else out += (out === '' ? '' : '.') + (BARE.test(s) ? s : JSON.stringify(s))
  }
  return out
}

/** Own properties only: `__proto__` or `constructor` in a path never reach the prototype. */
export function getPath (source: Obj, segments: readonly Segment[]): JsonValue | typeof ABSENT {
  let cur: JsonValue = source
  for (let i = 0; i < segments.length; i++) {
    if (cur === null || typeof cur !== 'object') return ABSENT
    const key = segments[i] as Segment
    if (typeof key === 'number') {
      if (!Array.isArray(cur) || key >= cur.length) return ABSENT
      cur = cur[key] as JsonValue
    } else {
      if (Array.isArray(cur) || !Object.hasOwn(cur, key)) return ABSENT
      cur = (cur as Obj)[key] as JsonValue
    }
  }
  return cur
}

export function readPath (source: Obj, segments: readonly Segment[]): JsonValue | undefined {
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

/** A scalar claim is a one-element list for the list operators. */
function asList (v: JsonValue): JsonValue[] {
  return Array.isArray(v) ? v : [v]
}

/** `"api:read  api:write"` → `['api:read', 'api:write']` (RFC 6749 §3.3 scope-token list). */
function words (s: string): string[] {
  const out: string[] = []
  let start = 0
  for (let i = 0; i <= s.length; i++) {
    if (i === s.length || s.charCodeAt(i) === 0x20) {
      if (i > start) out.push(s.slice(start, i))
      start = i + 1
    }
  }
  return out
}

/** A value as `explain` and denial logs show it: JSON, cut to MAX_SHOWN characters. */
export function shown (v: JsonValue | undefined): string {
  if (v === undefined) return 'absent'
  let s: string
  try {
    s = JSON.stringify(v)
  } catch {
    return '(too deep to show)'
  }
  return s.length > MAX_SHOWN ? s.slice(0, MAX_SHOWN - 3) + '...' : s
}

/** One requirement's outcome on one token, for `explain` and denial logs. */
export interface Explained {
  pass: boolean
  /** The requirement as written: `scope contains ["api:write"]`, `any of (...)`. */
  requirement: string
  /** The claim's value (JSON) or "absent"; not set for `anyOf`. */
  value?: string
  /** anyOf: each branch. */
  anyOf?: Explained[]
}

export interface CompiledRequirement {
  readonly check: Check
  /** Path (or `any of (a, b)`) for the error message. */
  readonly path: string
  /** Status when it fails: 403 unless the entry says otherwise. */
  readonly status: number
  readonly explain: (source: Obj) => Explained
}

export interface RequirementOptions {
  /** Canonical paths of claims that are space-separated word lists (`spaceDelimitedClaims`). */
  spaceDelimited?: ReadonlySet<string>
}

export const DEFAULT_REQUIREMENT_STATUS = 403
const LIST_OPS = new Set<Operator>(['in', '!in', 'intersect', '!intersect', 'contains', '!contains', 'match', '!match'])
const ENTRY_KEYS = new Set(['claim', 'op', 'value', 'status', 'anyOf'])

/**
 * Validates one requirement (throws a message naming what is wrong) and
 * compiles it. `where` is the option path for messages, e.g. `requireClaims[2]`.
 */
export function compileRequirement (req: Requirement, where: string, opts: RequirementOptions = {}): Check {
  return compileEntry(req, where, opts).check
}

/** A `requireClaims` / `requireHeaders` entry: a requirement or `{ anyOf: [...] }`, nestable. */
export function compileEntry (entry: RequirementEntry, where: string, opts: RequirementOptions = {}, nested = false): CompiledRequirement {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new Error(`${where}: must be an object`)
  for (const k of Object.keys(entry)) if (!ENTRY_KEYS.has(k)) throw new Error(`${where}.${k}: unknown key`)
  const e = entry as Partial<Requirement> & { anyOf?: unknown, status?: unknown }
  let status = DEFAULT_REQUIREMENT_STATUS
  if (e.status !== undefined) {
    if (nested) throw new Error(`${where}.status: only a top-level entry has a status (put it on the enclosing anyOf)`)
    if (typeof e.status !== 'number' || !Number.isInteger(e.status) || e.status < 400 || e.status > 499) {
      throw new Error(`${where}.status: must be a 4xx status (401, 403, ...), got ${JSON.stringify(e.status)}`)
    }
    status = e.status
  }
  if (e.anyOf !== undefined) {
    if (e.claim !== undefined || e.op !== undefined || Object.hasOwn(e, 'value')) {
      throw new Error(`${where}: an entry is either { "anyOf": [...] } or { "claim", "op", "value" }, not both`)
    }
    if (!Array.isArray(e.anyOf) || e.anyOf.length === 0) throw new Error(`${where}.anyOf: must be a non-empty list of entries`)
    const branches = e.anyOf.map((b, i) => compileEntry(b as RequirementEntry, `${where}.anyOf[${i}]`, opts, true))
    const checks = branches.map((b) => b.check)
    const path = `any of (${branches.map((b) => b.path).join(', ')})`
    const check: Check = (src) => {
      for (let i = 0; i < checks.length; i++) if ((checks[i] as Check)(src)) return true
      return false
    }
    return Object.freeze({
      check,
      path,
      status,
      explain: (src: Obj): Explained => {
        const anyOf = branches.map((b) => b.explain(src))
        return { pass: anyOf.some((b) => b.pass), requirement: 'any of', anyOf }
      }
    })
  }
  if (e.claim === undefined || e.op === undefined) throw new Error(`${where}: needs "claim" and "op" (or "anyOf")`)
  let segments: Segment[]
  try {
    segments = parsePath(e.claim)
  } catch (err) {
    throw new Error(`${where}.claim: ${JSON.stringify(e.claim)} is not a valid path: ${(err as Error).message}`)
  }
  const path = formatPath(segments)
  const spaced = opts.spaceDelimited?.has(path) === true && LIST_OPS.has(e.op)
  const check = compileOp(e as Requirement, segments, where, spaced)
  const requirement = `${path} ${e.op}${Object.hasOwn(e, 'value') ? ' ' + shown(e.value) : ''}`
  return Object.freeze({
    check,
    path,
    status,
    explain: (src: Obj): Explained => ({ pass: check(src), requirement, value: shown(readPath(src, segments)) })
  })
}

// RE2 semantics (re2js): matching time is linear in the input, whatever the
// pattern; what RE2 cannot run that way (backreferences, lookaround) does not
// compile. A JavaScript RegExp would backtrack on a token's claim, a ReDoS on
// the hot path (fast-jwt's CVE-2026-35041).
function compilePattern (value: JsonValue | undefined, where: string, op: string): (s: string) => boolean {
  if (typeof value !== 'string' || value.length === 0) throw new Error(`${where}.value: '${op}' needs a regular expression string, got ${JSON.stringify(value)}`)
  if (value.length > 1024) throw new Error(`${where}.value: the pattern is longer than 1024 characters`)
  let re: RE2JS
  try {
    re = RE2JS.compile(value)
  } catch (err) {
    throw new Error(`${where}.value: ${JSON.stringify(value)} is not a pattern the linear-time engine (RE2 syntax) accepts: ${(err as Error).message}`)
  }
  return (s) => re.test(s)
}

function compileOp (req: Requirement, segments: readonly Segment[], where: string, spaced: boolean): Check {
  const op: Operator = req.op
  const value = req.value
  const hasValue = Object.hasOwn(req, 'value')
  // A space-delimited claim (`scope`) is the list of its words for every list operator.
  const list: (v: JsonValue) => JsonValue[] = spaced
    ? (v) => typeof v === 'string' ? words(v) : asList(v)
    : asList

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
    case 'match':
    case '!match': {
      const test = compilePattern(value, where, op)
      // On a list claim, `match` means some element matches; non-strings never do.
      const some = (v: JsonValue): boolean => {
        const l = list(v)
        for (let i = 0; i < l.length; i++) {
          const x = l[i]
          if (typeof x === 'string' && test(x)) return true
        }
        return false
      }
      const negate = op === '!match'
      return (src) => {
        const v = getPath(src, segments)
        return v !== ABSENT && some(v) !== negate
      }
    }
    case 'in':
    case '!in':
    case 'intersect':
    case '!intersect':
    case 'contains':
    case '!contains': {
      if (!Array.isArray(value) || !value.every(isScalar)) {
        throw new Error(`${where}.value: '${op}' needs a list of strings, numbers, booleans or null, got ${JSON.stringify(value)}`)
      }
      // "Has all of none" would pass every token: refused rather than meaning nothing.
      if (value.length === 0 && (op === 'contains' || op === '!contains')) throw new Error(`${where}.value: '${op}' needs at least one value`)
      // A Set compares with SameValueZero: 1 and '1' stay different, as typed comparisons require.
      const set = new Set<JsonValue>(value)
      const wanted = value as JsonValue[]
      // `in`: every element of the claim is in the list (a non-empty claim);
      // `intersect`: at least one is; `contains`: every element of the list is
      // in the claim. The negations fail on an absent path too.
      const within = (v: JsonValue): boolean => {
        const l = list(v)
        if (l.length === 0) return false
        for (let i = 0; i < l.length; i++) if (!set.has(l[i] as JsonValue)) return false
        return true
      }
      const meets = (v: JsonValue): boolean => {
        const l = list(v)
        for (let i = 0; i < l.length; i++) if (set.has(l[i] as JsonValue)) return true
        return false
      }
      const holds = (v: JsonValue): boolean => {
        const have = new Set<JsonValue>(list(v))
        for (let i = 0; i < wanted.length; i++) if (!have.has(wanted[i] as JsonValue)) return false
        return true
      }
      const test = op === 'in' || op === '!in' ? within : op === 'intersect' || op === '!intersect' ? meets : holds
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

/**
 * Node and undici only accept header strings of latin1 code units, and write
 * each as one byte. A UTF-8 claim (`"name": "Zoë 山田"`) is therefore given as
 * its UTF-8 bytes, one latin1 character per byte, so the upstream receives the
 * exact UTF-8 bytes (RFC 9110 §5.5 obs-text), as nginx passes them. ASCII, the
 * common case, is returned as is without a copy.
 */
export function wireValue (s: string): string {
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) return Buffer.from(s, 'utf8').toString('latin1')
  }
  return s
}

/** What a policy forwards: `claimsToHeaders`, `joseHeadersToHeaders` (name, path) and `payloadHeader`. */
export interface ForwardedHeaderSpec {
  readonly claimHeaders: ReadonlyArray<readonly [string, readonly Segment[]]>
  readonly joseHeaders: ReadonlyArray<readonly [string, readonly Segment[]]>
  readonly payloadHeader: string | null
}

/**
 * The one writer of forwarded headers, for the plugin (into request.headers,
 * `wire: false`: the application reads JS strings) and the gateway (into the
 * upstream request, `wire: true`: UTF-8 bytes, see wireValue). An absent or
 * null value writes nothing; a value with control characters (CR/LF would
 * split the request, CWE-113) or that cannot be serialized writes nothing and
 * calls `unsafe(name, path)` — the caller logs it, never the value.
 * Null when the spec forwards nothing.
 */
export function compileHeaderWriter (
  spec: ForwardedHeaderSpec,
  opts: { wire: boolean, unsafe: (ctx: unknown, name: string, path: string) => void }
): ((ctx: unknown, jwt: { readonly token: string, readonly header: object, readonly payload: object }, out: Record<string, unknown>) => void) | null {
  const { claimHeaders, joseHeaders, payloadHeader } = spec
  if (claimHeaders.length === 0 && joseHeaders.length === 0 && payloadHeader === null) return null
  const wire = opts.wire
  const unsafe = opts.unsafe
  const put = (ctx: unknown, out: Record<string, unknown>, name: string, raw: JsonValue | undefined, path: readonly Segment[]): void => {
    if (raw === undefined || raw === null) return
    const v = headerValue(raw)
    if (v === null) return unsafe(ctx, name, formatPath(path))
    out[name] = wire ? wireValue(v) : v
  }
  return function writeForwardedHeaders (ctx, jwt, out) {
    for (let i = 0; i < claimHeaders.length; i++) {
      const [name, path] = claimHeaders[i] as readonly [string, readonly Segment[]]
      put(ctx, out, name, readPath(jwt.payload as Obj, path), path)
    }
    for (let i = 0; i < joseHeaders.length; i++) {
      const [name, path] = joseHeaders[i] as readonly [string, readonly Segment[]]
      put(ctx, out, name, readPath(jwt.header as Obj, path), path)
    }
    if (payloadHeader !== null) {
      // The payload segment of a verified token already is the unpadded base64url of its JSON.
      const t = jwt.token
      const dot1 = t.indexOf('.')
      out[payloadHeader] = t.slice(dot1 + 1, t.indexOf('.', dot1 + 1))
    }
  }
}

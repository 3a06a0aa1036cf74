// The request target rule (issue 10.1, 10.2): the path that picks a route's
// policy is exactly the path sent upstream. An upstream framework may read one
// spelling as another resource: Express and WHATWG URL remove `.`/`..` and
// `%2e` segments, turn `\` into `/`, decode `%2F`, match case-insensitively;
// Tomcat reads `..;` as `..`. So a target is either canonical (it names one
// resource whichever of these readings the upstream applies) or refused with
// 400 before routing; with `server.normalizePath` it is normalized first and
// the normalized path is routed and forwarded.
//
// Canonical, here: starts with `/`; only RFC 3986 path characters (unreserved,
// sub-delims, `:`, `@`, `/`, `%XX`), so WHATWG URL parsing (reply-from builds
// the upstream URL with it) leaves it byte for byte as it is; no `#`; no empty
// segment but a trailing one; no `.`/`..` segment, also with `;params`; no
// percent-encoded unreserved character (RFC 3986 §6.2.2.2: `%2e` is `.`,
// `%41` is `A`), slash, backslash or control character; escapes that decode to
// valid UTF-8 (no overlong `%c0%ae`). Double encoding (`%252e`) is canonical:
// it names `%2e` literally, and is forwarded unchanged.

/** RFC 3986 pchar without `%` plus `/`, by char code. */
const PATH_CHARS = (() => {
  const ok = new Uint8Array(128)
  const chars = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&\'()*+,;=:@/'
  for (let i = 0; i < chars.length; i++) ok[chars.charCodeAt(i)] = 1
  return ok
})()

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

/** Encoded bytes that are refused in every mode: `/`, `\`, controls (NUL...), DEL. */
function refusedByte (b: number): boolean {
  return b === 0x2f || b === 0x5c || b < 0x20 || b === 0x7f
}

function unreservedByte (b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e
}

/** `.`, `..`, `.;x`, `..;x`: a dot segment for RFC 3986 or for servlet containers. */
function isDotSegment (seg: string): boolean {
  const semi = seg.indexOf(';')
  const name = semi === -1 ? seg : seg.slice(0, semi)
  return name === '.' || name === '..'
}

/** The path of a request target (before `?`); the whole target when it has none. */
export function pathOf (target: string): string {
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}

/**
 * Why the request target is not canonical, or null when it is. Reads the raw
 * target as the client sent it (`request.raw.url`).
 */
export function targetProblem (target: string): string | null {
  if (target.indexOf('#') !== -1) return 'a "#" in the request target'
  const path = pathOf(target)
  if (path.charCodeAt(0) !== 0x2f) return 'a path that does not start with "/"'
  let segStart = 1
  for (let i = 1; i <= path.length; i++) {
    const c = i < path.length ? path.charCodeAt(i) : 0x2f
    if (c === 0x2f) {
      const seg = path.slice(segStart, i)
      if (seg.length === 0 && i < path.length) return 'an empty path segment ("//")'
      if (isDotSegment(seg)) return 'a dot segment ("." or "..")'
      segStart = i + 1
      continue
    }
    if (c === 0x25) {
      const h = hexValue(path.charCodeAt(i + 1))
      const l = hexValue(path.charCodeAt(i + 2))
      if (h < 0 || l < 0) return 'a bad percent-encoding'
      const b = h * 16 + l
      if (refusedByte(b)) return 'an encoded slash, backslash or control character'
      if (unreservedByte(b)) return 'a percent-encoded unreserved character (such as "%2e")'
      i += 2
      continue
    }
    if (c >= 128 || PATH_CHARS[c] !== 1) return c === 0x5c ? 'a backslash' : 'a character that must be percent-encoded'
  }
  // Escapes must decode to valid UTF-8: an overlong "%c0%ae" is "." to some decoders.
  if (path.indexOf('%') !== -1) {
    try {
      decodeURIComponent(path)
    } catch {
      return 'a percent-encoding that is not valid UTF-8'
    }
  }
  return null
}

/**
 * The target with its path normalized (RFC 3986 §6.2.2: encoded unreserved
 * characters decoded, `.`/`..` segments removed, and, as Envoy's
 * `merge_slashes`, empty segments merged), the query untouched; null when it
 * cannot be normalized safely (a `#`, an encoded slash or backslash, a raw
 * backslash, a control character, `..` above the root, `..;` segments, bad
 * escapes): those are refused as in the strict mode. A canonical target is
 * returned as it is.
 */
export function normalizeTarget (target: string): string | null {
  if (targetProblem(target) === null) return target
  if (target.indexOf('#') !== -1) return null
  const path = pathOf(target)
  if (path.charCodeAt(0) !== 0x2f) return null
  let decoded = ''
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i)
    if (c === 0x25) {
      const h = hexValue(path.charCodeAt(i + 1))
      const l = hexValue(path.charCodeAt(i + 2))
      if (h < 0 || l < 0) return null
      const b = h * 16 + l
      if (refusedByte(b)) return null
      decoded += unreservedByte(b) ? String.fromCharCode(b) : path.slice(i, i + 3).toUpperCase()
      i += 2
      continue
    }
    if (c >= 128 || PATH_CHARS[c] !== 1) return null
    decoded += path[i]
  }
  const out: string[] = []
  const segs = decoded.slice(1).split('/')
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as string
    const last = i === segs.length - 1
    if (seg === '.' || seg === '..') {
      // Above the root is refused (nginx answers 400), not clamped as browsers do.
      if (seg === '..' && out.pop() === undefined) return null
      if (last) out.push('')
      continue
    }
    if (isDotSegment(seg)) return null
    if (seg.length === 0 && !last) continue
    out.push(seg)
  }
  const normalized = '/' + out.join('/') + target.slice(path.length)
  return targetProblem(normalized) === null ? normalized : null
}

/**
 * The path routes are chosen on: decoded (a canonical path decodes without
 * error), case-folded unless `caseSensitive`.
 */
export function selectionPath (target: string, caseSensitive: boolean): string {
  let path = pathOf(target)
  if (path.indexOf('%') !== -1) path = decodeURIComponent(path)
  return caseSensitive ? path : path.toLowerCase()
}

/** Longest-prefix selection over the gateway's route prefixes, on the selection path. */
export interface PrefixSelector {
  /** The key (as `key` gives it) of the prefix that owns `target`, or null. */
  pick (target: string): string | null
  /** A configured prefix as `pick` returns it. */
  key (prefix: string): string
}

export function compilePrefixSelector (prefixes: readonly string[], caseSensitive: boolean): PrefixSelector {
  const key = (prefix: string): string => selectionPath(prefix, caseSensitive)
  // Longest first: the first that matches on a segment boundary wins.
  const keys = [...new Set(prefixes.map(key))].sort((a, b) => b.length - a.length)
  return {
    key,
    pick (target) {
      const path = selectionPath(target, caseSensitive)
      for (let i = 0; i < keys.length; i++) {
        const p = keys[i] as string
        if (p === '/' || path === p || (path.startsWith(p) && path.charCodeAt(p.length) === 0x2f)) return p
      }
      return null
    }
  }
}

import {
  FJG_ERR_TOKEN_ALGORITHM, FJG_ERR_TOKEN_CRIT, FJG_ERR_TOKEN_KID_REQUIRED, FJG_ERR_TOKEN_MALFORMED, type FjgError
} from './errors.js'
import type { Algorithm, JsonValue } from './types.js'

// Decoding a compact JWS (RFC 7515 §7.1), apart from checking its signature
// (signature.ts), as fast-jwt splits decoder.js from verifier.js. Everything
// here is refused before any key or crypto is involved, and each part is
// decoded once per token: the verifier reads what this returns.

// A run of base64url alphabet (RFC 4648 §5), matched in place (sticky, from
// lastIndex): V8's compiled regex scans a token part in 0.1 µs where a
// charCodeAt loop took 0.25 µs, on every token the cache has not seen.
const ALPHABET_RUN = /[A-Za-z0-9_-]*/y
// Value of each character, to check that the unused low bits of the last one are zero.
const B64VAL = new Uint8Array(128)
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split('').forEach((c, i) => { B64VAL[c.charCodeAt(0)] = i })

/**
 * Canonical unpadded base64url (RFC 7515 §2, RFC 4648 §3.5): only the alphabet,
 * no padding, a length that is not 1 mod 4, and zero unused bits in the last
 * character. Node's decoder accepts all of these silently, so two different
 * strings would decode to the same bytes: a token must have one spelling.
 */
export function isCanonicalBase64url (s: string, from: number, to: number): boolean {
  const len = to - from
  const rem = len & 3
  if (rem === 1) return false
  ALPHABET_RUN.lastIndex = from
  ALPHABET_RUN.test(s)
  // The run may go on past `to` (the caller's range need not end at a '.').
  if (ALPHABET_RUN.lastIndex < to) return false
  if (rem === 0 || len === 0) return true
  const last = B64VAL[s.charCodeAt(to - 1)] as number
  // 2 chars carry 8 bits (4 unused), 3 chars carry 16 bits (2 unused).
  return rem === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0
}

/**
 * Members of the top-level object in `json`, text that JSON.parse has already
 * accepted (so it is well formed): one ':' per member at depth 1, outside
 * strings. Fewer keys after parsing than this means a repeated name.
 */
export function countMembers (json: string): number {
  let depth = 0
  let members = 0
  let inString = false
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i)
    if (inString) {
      if (c === 0x5c) i++ // backslash: the next character is escaped
      else if (c === 0x22) inString = false
    } else if (c === 0x22) {
      inString = true
    } else if (c === 0x7b || c === 0x5b) {
      depth++
    } else if (c === 0x7d || c === 0x5d) {
      depth--
    } else if (c === 0x3a && depth === 1) {
      members++
    }
  }
  return members
}

export function isObject (v: unknown): v is Record<string, JsonValue> {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

export const PAYLOAD_NOT_OBJECT = 'the payload is not a JSON object'
export const malformed = (why: string): FjgError => new FJG_ERR_TOKEN_MALFORMED(why) as FjgError

/** A JWS taken apart. The payload is parsed on first use (`payloadOf`), at most once. */
export interface DecodedJws {
  readonly token: string
  readonly header: Record<string, JsonValue>
  readonly alg: Algorithm
  readonly kid: string | null
  /** Index of the first and second dot. */
  readonly dot1: number
  readonly dot2: number
  /** Null until `payloadOf` parsed it. */
  payload: Record<string, JsonValue> | null
}

// One buffer the payloads and headers decode into: each is read out as text
// at once, on this thread, so none outlives the call. Saves a Buffer per token
// (0.4 µs of the 1.5 that decoding a small payload took). Longer segments get
// their own.
const scratch = Buffer.allocUnsafeSlow(4096)

/** `token[from, to)`, canonical base64url (checked before), decoded as UTF-8 text. */
function base64urlText (token: string, from: number, to: number): string {
  const segment = token.slice(from, to)
  if (segment.length > scratch.length) return Buffer.from(segment, 'base64url').toString('utf8')
  // 4 characters make at most 3 bytes: the whole segment fits.
  const n = scratch.write(segment, 'base64url')
  return scratch.toString('utf8', 0, n)
}

/** The claims set (RFC 7519 §7.2 step 10: a JSON object), parsed once and kept on `d`. */
export function payloadOf (d: DecodedJws): Record<string, JsonValue> {
  if (d.payload !== null) return d.payload
  let payload: unknown
  try {
    payload = JSON.parse(base64urlText(d.token, d.dot1 + 1, d.dot2))
  } catch {
    throw malformed(PAYLOAD_NOT_OBJECT)
  }
  if (!isObject(payload)) throw malformed(PAYLOAD_NOT_OBJECT)
  d.payload = payload
  return payload
}

export interface DecoderOptions {
  algorithms: ReadonlySet<Algorithm>
  /** A token without `kid` is refused (a kid revocation list is set: verify.ts). */
  requireKid: boolean
}

/**
 * The protected header of a compact JWS or JWE, `token[0, end)` (its base64url
 * already checked): a JSON object with no member repeated, or an FjgError.
 * RFC 7515 §5.2: a repeated header name is rejected or the last one wins. We
 * reject: the header is read before the signature is checked and picks the
 * algorithm and the key, and a second "alg", "kid" or "crit" is a probe for a
 * component that keeps the first one, never what an issuer signs. (A JWS
 * payload keeps JSON.parse's last-wins: it is signed and parsed once.)
 */
export function decodeHeader (token: string, end: number): Record<string, JsonValue> {
  let header: unknown
  let json: string
  try {
    json = base64urlText(token, 0, end)
    header = JSON.parse(json)
  } catch {
    throw malformed('the header is not JSON')
  }
  if (!isObject(header)) throw malformed('the header is not a JSON object')
  if (countMembers(json) !== Object.keys(header).length) throw malformed('a header member is repeated')
  return header
}

/** A protected header that passed every check, with what the verifier reads from it. */
interface CheckedHeader {
  readonly header: Record<string, JsonValue>
  readonly alg: Algorithm
  readonly kid: string | null
}

/**
 * Distinct protected headers remembered per decoder. An issuer signs with a
 * few keys, so its tokens carry a few header strings, byte for byte: one
 * lookup then replaces the header's base64url check, decoding, JSON.parse and
 * member count on every token that is not in the token cache. Bounded (oldest
 * out first): headers crafted to differ only cost the work they cost before.
 */
const HEADER_MEMO_SIZE = 64

/** Compiles `decode(token)`: the parts, their base64url, the header and its members; throws an FjgError. */
export function compileDecoder (opts: DecoderOptions): (token: string) => DecodedJws {
  const { algorithms, requireKid } = opts
  const memo = new Map<string, CheckedHeader>()

  /** `token[0, dot1)`, its base64url already checked: the header checks, or an FjgError. */
  function checkHeader (token: string, dot1: number): CheckedHeader {
    const header = decodeHeader(token, dot1)
    const alg = header.alg
    // "none" is never in `algorithms` (policy.ts refuses it), so it fails here in every spelling.
    if (typeof alg !== 'string' || !algorithms.has(alg as Algorithm)) throw new FJG_ERR_TOKEN_ALGORITHM()
    // RFC 7515 §4.1.11: we understand no extension, so any `crit` makes the token invalid.
    if (header.crit !== undefined) throw new FJG_ERR_TOKEN_CRIT()
    const kid = header.kid
    if (kid !== undefined && typeof kid !== 'string') throw malformed('"kid" is not a string')
    if (requireKid && kid === undefined) throw new FJG_ERR_TOKEN_KID_REQUIRED()
    // Shared by every token with this header from now on: nobody may change it.
    return { header: deepFreeze(header), alg: alg as Algorithm, kid: (kid as string | undefined) ?? null }
  }

  return function decode (token) {
    const dot1 = token.indexOf('.')
    const dot2 = dot1 === -1 ? -1 : token.indexOf('.', dot1 + 1)
    if (dot1 <= 0 || dot2 === -1 || token.indexOf('.', dot2 + 1) !== -1) throw malformed('a JWS has three parts')
    if (dot2 === dot1 + 1) throw malformed('the payload is empty')
    const segment = token.slice(0, dot1)
    let h = memo.get(segment)
    // A remembered header passed the base64url check when it was stored.
    if ((h === undefined && !isCanonicalBase64url(token, 0, dot1)) || !isCanonicalBase64url(token, dot1 + 1, dot2) ||
      !isCanonicalBase64url(token, dot2 + 1, token.length)) {
      throw malformed('not canonical base64url')
    }
    if (h === undefined) {
      h = checkHeader(token, dot1)
      if (memo.size >= HEADER_MEMO_SIZE) memo.delete(memo.keys().next().value as string)
      memo.set(segment, h)
    }
    return { token, header: h.header, alg: h.alg, kid: h.kid, dot1, dot2, payload: null }
  }
}

/**
 * Freezes `root` and everything under it; what is frozen already is taken as
 * done. Recursive to a bounded depth, without an array per object: a verified
 * token is frozen on every cache miss, and the stack and the key lists of a
 * fully iterative walk were 390 of the 2,000 bytes a miss allocated. Below
 * FREEZE_DEPTH it goes on iteratively: JSON.parse accepts any depth, so a
 * signed payload may nest arrays tens of thousands of levels deep; recursing
 * all the way overflowed the stack and turned a valid token into an uncoded
 * error (issue 7).
 */
export function deepFreeze<T> (root: T): T {
  freezeValue(root, 0)
  return root
}

const FREEZE_DEPTH = 64

function freezeValue (v: unknown, depth: number): void {
  if (v === null || typeof v !== 'object' || Object.isFrozen(v)) return
  if (depth === FREEZE_DEPTH) return freezeIteratively(v)
  Object.freeze(v)
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) freezeValue(v[i], depth + 1)
  } else {
    // JSON and our own plain objects: own enumerable keys (JSON.parse makes no others).
    for (const k in v) if (Object.hasOwn(v, k)) freezeValue((v as Record<string, unknown>)[k], depth + 1)
  }
}

function freezeIteratively (root: object): void {
  const stack: unknown[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()
    if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
      Object.freeze(v)
      if (Array.isArray(v)) {
        for (let i = 0; i < v.length; i++) stack.push(v[i])
      } else {
        for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k])
      }
    }
  }
}

import type { FastifyRequest } from 'fastify'

// Where the token is read. Each source is compiled once into a function that
// returns the token string, or null when that source has none. The first
// source that has a token wins; a bad token there is not "retried" elsewhere.

export type Extractor = (request: FastifyRequest) => string | null

export interface TokenSourceSpec {
  kind: 'bearer' | 'header' | 'cookie' | 'query'
  name: string
}

export const DEFAULT_TOKEN_SOURCE = 'header:authorization'

export function parseTokenSource (spec: string): TokenSourceSpec {
  const colon = spec.indexOf(':')
  const kind = spec.slice(0, colon)
  const name = spec.slice(colon + 1)
  if (colon <= 0 || name.length === 0 || (kind !== 'header' && kind !== 'cookie' && kind !== 'query')) {
    throw new Error(`must be "header:<name>", "cookie:<name>" or "query:<name>", got ${JSON.stringify(spec)}`)
  }
  if (kind === 'header') {
    const lower = name.toLowerCase()
    return { kind: lower === 'authorization' ? 'bearer' : 'header', name: lower }
  }
  return { kind, name }
}

/** RFC 6750 §2.1: `Authorization: Bearer <token>`, the scheme name case-insensitive (RFC 9110 §11.1). */
export function bearerToken (value: string): string | null {
  // "bearer" is 6 characters; compare without allocating a lower-cased copy.
  if (value.length < 8) return null
  const c0 = value.charCodeAt(0) | 0x20
  if (c0 !== 0x62 || (value.charCodeAt(1) | 0x20) !== 0x65 || (value.charCodeAt(2) | 0x20) !== 0x61 ||
    (value.charCodeAt(3) | 0x20) !== 0x72 || (value.charCodeAt(4) | 0x20) !== 0x65 ||
    (value.charCodeAt(5) | 0x20) !== 0x72 || value.charCodeAt(6) !== 0x20) {
    return null
  }
  let start = 7
  while (start < value.length && value.charCodeAt(start) === 0x20) start++
  let end = value.length
  while (end > start && (value.charCodeAt(end - 1) === 0x20 || value.charCodeAt(end - 1) === 0x09)) end--
  return end > start ? value.slice(start, end) : null
}

/** The value of one cookie in a `Cookie` header (RFC 6265 §5.4), without parsing the others. */
export function cookieValue (header: string, name: string): string | null {
  let from = 0
  while (from < header.length) {
    const at = header.indexOf(name, from)
    if (at === -1) return null
    const end = at + name.length
    // The name must start the header or follow "; " / ";", and be followed by "=".
    let before = at - 1
    while (before >= 0 && header.charCodeAt(before) === 0x20) before--
    if ((before === -1 || header.charCodeAt(before) === 0x3b) && header.charCodeAt(end) === 0x3d) {
      let stop = header.indexOf(';', end + 1)
      if (stop === -1) stop = header.length
      let value = header.slice(end + 1, stop).trim()
      if (value.length >= 2 && value.charCodeAt(0) === 0x22 && value.charCodeAt(value.length - 1) === 0x22) {
        value = value.slice(1, -1)
      }
      return value.length > 0 ? value : null
    }
    from = at + 1
  }
  return null
}

function firstString (v: unknown): string | null {
  if (typeof v === 'string') return v.length > 0 ? v : null
  // A repeated query parameter or header: take none, the request is ambiguous.
  return null
}

function compileOne (spec: TokenSourceSpec): Extractor {
  const name = spec.name
  switch (spec.kind) {
    case 'bearer':
      return (request) => {
        const v = request.headers.authorization
        return typeof v === 'string' ? bearerToken(v) : null
      }
    case 'header':
      return (request) => {
        const v = firstString(request.headers[name])
        return v === null ? null : v.trim() || null
      }
    case 'cookie':
      return (request) => {
        const v = request.headers.cookie
        return typeof v === 'string' ? cookieValue(v, name) : null
      }
    case 'query':
      return (request) => {
        const q = request.query as Record<string, unknown> | undefined
        return q != null && typeof q === 'object' ? firstString(q[name]) : null
      }
  }
}

export function compileExtractor (specs: readonly TokenSourceSpec[]): Extractor {
  const extractors = specs.map(compileOne)
  if (extractors.length === 1) return extractors[0] as Extractor
  return (request) => {
    for (let i = 0; i < extractors.length; i++) {
      const token = (extractors[i] as Extractor)(request)
      if (token !== null) return token
    }
    return null
  }
}

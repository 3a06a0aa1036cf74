import type { FastifyRequest } from 'fastify'

/** A JSON value, as found in a token's header or payload. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

export type Algorithm =
  | 'HS256' | 'HS384' | 'HS512'
  | 'RS256' | 'RS384' | 'RS512'
  | 'PS256' | 'PS384' | 'PS512'
  | 'ES256' | 'ES384' | 'ES512'
  | 'EdDSA'
  | 'Ed25519' | 'ES256K'

export type Operator =
  | 'eq' | '!eq' | 'gt' | 'ge' | 'lt' | 'le'
  | 'in' | '!in' | 'intersect' | '!intersect' | 'exists' | '!exists'

/** A requirement on a claim (payload) or a JOSE header parameter. */
export interface Requirement {
  /** Dot path (`realm.access.role`) or a list of path segments (for names with dots). */
  claim: string | string[]
  op: Operator
  value?: JsonValue
}

export type KeySource =
  | ({ file: string } & IssuerBinding)
  | ({ jwk: Record<string, unknown> } & IssuerBinding)
  | ({ jwks: string } & RemoteKeyOptions & IssuerBinding)
  | ({ keyval: string } & RemoteKeyOptions & IssuerBinding)
  | ({ issuer: string } & RemoteKeyOptions)

/** The keys verify only tokens whose `iss` is exactly this (issue 10, point 6). */
export interface IssuerBinding {
  issuer?: string
}

/** Timing of a remote key source (docs/live-sources.md). */
export interface RemoteKeyOptions {
  /** Seconds a fetched set is fresh without Cache-Control (default 600). */
  cacheTtl?: number
  /** Milliseconds a fetch may take (default 5000). */
  timeout?: number
  /** Seconds between refetches caused by unknown kids (default 30). */
  cooldown?: number
  /** Seconds past its freshness the last good set is served while fetches fail (default 86400). */
  maxStale?: number
}

export interface RevocationFiles {
  sub?: string
  kid?: string
  jti?: string
}

export interface CacheOptions {
  /** Maximum number of verified tokens kept (LRU). */
  size?: number
  /** Seconds an entry may live; never beyond the token's own `exp`. */
  ttl?: number
}

/** The policy: the plugin's options, a gateway route's `jwt`, the preset's `jwt`. */
export interface JwtPolicy {
  realm?: string
  token?: string | string[]
  secret?: string | { base64: string, issuer?: string }
  keys?: KeySource[]
  algorithms?: Algorithm[]
  issuer?: string | string[]
  audience?: string | string[]
  leeway?: number
  validateExp?: boolean
  validateSig?: boolean
  requireClaims?: Requirement[]
  requireHeaders?: Requirement[]
  /** Plugin API only: false (or a promise of false) answers 403. */
  require?: (request: FastifyRequest) => boolean | Promise<boolean>
  claimsToHeaders?: Record<string, string | string[]>
  joseHeadersToHeaders?: Record<string, string | string[]>
  payloadHeader?: string
  forwardToken?: boolean
  revocation?: RevocationFiles
  phase?: 'access' | 'preaccess'
  optional?: boolean
  /** Verified-token cache; `false` turns it off. */
  cache?: CacheOptions | false
  /** Tokens longer than this many bytes are refused before decoding. */
  maxTokenSize?: number
}

/** What `request.jwt` holds after a successful check. */
export interface VerifiedJwt {
  token: string
  header: Record<string, JsonValue>
  payload: Record<string, JsonValue>
}

export interface RouteJwtConfig {
  jwt?: false | JwtPolicy
}

declare module 'fastify' {
  interface FastifyRequest {
    jwt: VerifiedJwt | null
  }
  interface FastifyContextConfig {
    jwt?: false | JwtPolicy
  }
}

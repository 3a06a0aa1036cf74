import type { FastifyRequest } from 'fastify'
import type { KeySourceTls } from './remote-tls.js'

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
  | 'contains' | '!contains' | 'match' | '!match'

/** A requirement on a claim (payload) or a JOSE header parameter. */
export interface Requirement {
  /**
   * Path: `realm.access.role`, `roles[0]`, `a.b[2].c`, `"https://example.com/roles"`
   * (quoted names may hold dots); or a list of names (the older form for names with dots).
   */
  claim: string | string[]
  op: Operator
  value?: JsonValue
  /** Answer status when this entry fails (a 4xx; default 403). Top-level entries only. */
  status?: number
}

/** Passes when any of its entries passes; nestable. */
export interface AnyOfRequirement {
  anyOf: RequirementEntry[]
  // Never beside anyOf: declared so `entry.op` reads on the union type-check.
  claim?: never
  op?: never
  value?: never
  /** Answer status when every branch fails (a 4xx; default 403). Top-level entries only. */
  status?: number
}

/** One entry of `requireClaims` / `requireHeaders`: the list is all-of. */
export type RequirementEntry = Requirement | AnyOfRequirement

/** Extra parameters of every `WWW-Authenticate` of the policy. */
export interface ChallengeOptions {
  /** RFC 6750 §3 `scope="..."`: the scopes the resource wants, space-separated. */
  scope?: string
  /** RFC 9728 §5.1 `resource_metadata="..."`: URL of the protected resource metadata. */
  resourceMetadata?: string
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
  /** TLS toward the endpoint: `{ ca, cert, key, servername, rejectUnauthorized }`, files relative to the config folder. */
  tls?: KeySourceTls
}

export interface RevocationFiles {
  sub?: string
  kid?: string
  jti?: string
  /** Revoked sub, kid and jti values shared by a fleet through Redis (with the files, if any). */
  redis?: RevocationRedis
}

export interface RevocationRedis {
  /** `redis://[user:password@]host:port[/db]`, or `rediss://` for TLS. */
  url: string
  /** Prefix of the sorted sets and of the channel. Default `fjg:`. */
  prefix?: string
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
  requireClaims?: RequirementEntry[]
  requireHeaders?: RequirementEntry[]
  /** Claims that are space-separated word lists for the list operators; default `["scope", "scp"]`. */
  spaceDelimitedClaims?: string[]
  challenge?: ChallengeOptions
  /** RFC 9068 §4: `typ` must be this media type (`at+jwt`), with or without `application/`. */
  tokenType?: string
  /** Seconds since `iat` after which a token is refused; makes `iat` required. */
  maxAge?: number
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
  /**
   * RFC 8705 §3: `cnf["x5t#S256"]` must equal the SHA-256 thumbprint of the
   * connection's verified client certificate. `true`: a token without it is
   * refused; `"if-present"`: only tokens that carry it are held to it.
   */
  certificateBound?: boolean | 'if-present'
  /**
   * One entry per issuer (Envoy `providers`): the token's (unverified) `iss`
   * picks exactly one, whose keys alone verify it and whose keys override the
   * route's for that token. An unknown `iss` is refused (FJG_ERR_TOKEN_ISSUER).
   */
  providers?: ProviderPolicy[]
  /** Encrypted tokens (JWE; NGINX Plus `auth_jwt_type encrypted | nested`). */
  decrypt?: DecryptOptions
}

/** A provider: its issuer and the policy keys that depend on it (schema.ts PROVIDER_KEYS). */
export interface ProviderPolicy extends Pick<JwtPolicy,
  'realm' | 'secret' | 'keys' | 'algorithms' | 'audience' | 'leeway' | 'validateExp' | 'requireClaims' |
  'requireHeaders' | 'spaceDelimitedClaims' | 'challenge' | 'tokenType' | 'maxAge' | 'revocation' | 'certificateBound'> {
  /** The `iss` that selects this provider; without `keys` or `secret`, an http(s) issuer is discovered (OpenID). */
  issuer: string
}

export type JweKeyAlgorithm =
  | 'RSA-OAEP' | 'RSA-OAEP-256' | 'RSA-OAEP-384' | 'RSA-OAEP-512'
  | 'ECDH-ES' | 'ECDH-ES+A128KW' | 'ECDH-ES+A192KW' | 'ECDH-ES+A256KW'
  | 'A128KW' | 'A192KW' | 'A256KW' | 'A128GCMKW' | 'A192GCMKW' | 'A256GCMKW' | 'dir'
export type JweEncryption = 'A128GCM' | 'A192GCM' | 'A256GCM' | 'A128CBC-HS256' | 'A192CBC-HS384' | 'A256CBC-HS512'

export interface DecryptOptions {
  /** Private keys: `{ file }` (PEM private key, private JWK or JWKS) or `{ jwk }` (RSA, EC P-256/P-384/P-521, oct). */
  keys: Array<{ file: string } | { jwk: Record<string, unknown> }>
  /** Allowed `alg` and `enc` values, both kinds in one list (at least one of each). */
  algorithms: Array<JweKeyAlgorithm | JweEncryption>
  /** `nested` (default): the JWE holds a signed JWT, verified by the policy; `encrypted`: the JWE holds the claims. */
  type?: 'nested' | 'encrypted'
}

/**
 * Declare what your tokens carry by augmenting this interface (as @fastify/jwt's
 * `FastifyJWT`); `request.jwt.payload` (and `header`) then have that type:
 *
 *     declare module '@fastify-jwt-gateway/jwt-auth' {
 *       interface FastifyJwtAuth { payload: { sub: string, roles: string[] } }
 *     }
 *
 * The plugin checks what the policy says (signature, `exp`, `requireClaims`...),
 * not this type: declare only what your policy guarantees. Empty on purpose: users add members.
 */
export interface FastifyJwtAuth {}

/** The payload type: `FastifyJwtAuth['payload']` when declared, any JSON object otherwise. */
export type JwtPayload = FastifyJwtAuth extends { payload: infer P } ? P : Record<string, JsonValue>
/** The JOSE header type: `FastifyJwtAuth['header']` when declared, any JSON object otherwise. */
export type JwtHeader = FastifyJwtAuth extends { header: infer H } ? H : Record<string, JsonValue>

/**
 * What `request.jwt` holds after a successful check. Deep-frozen at run time
 * (it may be shared between requests through the token cache), readonly here.
 */
export interface VerifiedJwt {
  readonly token: string
  readonly header: Readonly<JwtHeader>
  readonly payload: Readonly<JwtPayload>
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

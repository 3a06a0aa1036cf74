import type { FastifyRequest } from 'fastify'
import type { FromSchema } from 'json-schema-to-ts'
import type { ALGORITHMS, JWE_ENCRYPTIONS, JWE_KEY_ALGORITHMS, OPERATORS, PROVIDER_KEYS, policySchema } from './schema.js'

// The policy's JSON keys are typed from policySchema (schema.ts), the one
// source the plugin validates with: a key, an enum value or a `required` added
// there is in these types, with no second list to keep in step
// (json-schema-to-ts's FromSchema, type-only). Written by hand, and said so at
// each: what no JSON Schema holds (the `require` callback), and the rules
// the schema leaves to policy.ts and claims.ts so that every error names one
// path (which key of a key source, which form of a requirement entry).

type PolicyProperties = typeof policySchema.properties
/**
 * Every JSON key of a policy as the schema types it. `providers` aside: its
 * item schema is filled at run time from the policy's own properties
 * (PROVIDER_KEYS), which a type cannot follow; ProviderPolicy picks them here.
 */
type PolicyJson = FromSchema<{ type: 'object', additionalProperties: false, properties: Omit<PolicyProperties, 'providers'> }>
/** One key source as the schema types it: every key optional (schema.ts keeps it flat, policy.ts checks "exactly one of"). */
type KeySourceJson = NonNullable<PolicyJson['keys']>[number]
/** One requirement entry as the schema types it: flat (claims.ts checks the two forms). */
type RequirementJson = NonNullable<PolicyJson['requireClaims']>[number]
type DecryptJson = NonNullable<PolicyJson['decrypt']>
type DecryptKeyJson = DecryptJson['keys'][number]

/** A JSON value, as found in a token's header or payload. Hand-written: recursive, and the schema's `value: {}` is any JSON. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

export type Algorithm = typeof ALGORITHMS[number]

export type Operator = typeof OPERATORS[number]

// Requirement entries: the shape is hand-written, the leaf types are the
// schema's. The schema's entry is one flat object (a recursive $ref would point
// elsewhere once the gateway embeds the schema, and `oneOf` would give two
// messages per mistake); the two exclusive, nestable forms are checked by
// claims.ts, and typed here so that a mix of them does not type-check.

/** A requirement on a claim (payload) or a JOSE header parameter. */
export interface Requirement {
  /**
   * Path: `realm.access.role`, `roles[0]`, `a.b[2].c`, `"https://example.com/roles"`
   * (quoted names may hold dots); or a list of names (the older form for names with dots).
   */
  claim: NonNullable<RequirementJson['claim']>
  op: Operator
  value?: JsonValue
  /** Answer status when this entry fails (a 4xx; default 403). Top-level entries only. */
  status?: RequirementJson['status']
}

/** Passes when any of its entries passes; nestable. */
export interface AnyOfRequirement {
  anyOf: RequirementEntry[]
  // Never beside anyOf: declared so `entry.op` reads on the union type-check.
  claim?: never
  op?: never
  value?: never
  /** Answer status when every branch fails (a 4xx; default 403). Top-level entries only. */
  status?: RequirementJson['status']
}

/** One entry of `requireClaims` / `requireHeaders`: the list is all-of. */
export type RequirementEntry = Requirement | AnyOfRequirement

// Interfaces over the derived object types below (`interface X extends
// Derived {}`) add no member: they give editor hovers and messages a name
// (`RevocationFiles`) instead of the expanded object.

/** Extra parameters of every `WWW-Authenticate` of the policy: RFC 6750 §3 `scope`, RFC 9728 §5.1 `resourceMetadata`. */
export interface ChallengeOptions extends NonNullable<PolicyJson['challenge']> {}

/** The keys verify only tokens whose `iss` is exactly this (issue 10, point 6). */
export type IssuerBinding = Pick<KeySourceJson, 'issuer'>

/**
 * A key source's `tls`: `ca`, `cert`, `key` (PEM files), `servername` (checked
 * and sent as SNI; default the URL's host), `rejectUnauthorized` (default true).
 */
export interface KeySourceTls extends NonNullable<KeySourceJson['tls']> {}

/** Timing and TLS of a remote key source (docs/live-sources.md): `cacheTtl`, `timeout`, `cooldown`, `maxStale`, `tls`. */
export interface RemoteKeyOptions extends Pick<KeySourceJson, 'cacheTtl' | 'timeout' | 'cooldown' | 'maxStale'> {
  tls?: KeySourceTls
}

/**
 * A key source. The field types are the schema's; the union is hand-written:
 * the schema has one flat object and policy.ts checks that exactly one of
 * file, jwk, jwks, keyval (or issuer alone) is set, with a message naming it.
 */
export type KeySource =
  | (Required<Pick<KeySourceJson, 'file'>> & IssuerBinding)
  | (Required<Pick<KeySourceJson, 'jwk'>> & IssuerBinding)
  | (Required<Pick<KeySourceJson, 'jwks'>> & RemoteKeyOptions & IssuerBinding)
  | (Required<Pick<KeySourceJson, 'keyval'>> & RemoteKeyOptions & IssuerBinding)
  | (Required<Pick<KeySourceJson, 'issuer'>> & RemoteKeyOptions)

type RevocationJson = NonNullable<PolicyJson['revocation']>

/** `url`: `redis://[user:password@]host:port[/db]` or `rediss://`; `prefix` of the sorted sets and the channel (default `fjg:`). */
export interface RevocationRedis extends NonNullable<RevocationJson['redis']> {}

/** Revocation list files (`sub`, `kid`, `jti`) and/or a Redis store shared by a fleet (`redis`). */
export interface RevocationFiles extends Omit<RevocationJson, 'redis'> {
  redis?: RevocationRedis
}

/** The verified-token cache: `size` (LRU entries), `ttl` (seconds, never beyond the token's `exp`). */
export interface CacheOptions extends Exclude<NonNullable<PolicyJson['cache']>, false> {}

/**
 * The policy: the plugin's options, a gateway route's `jwt`, the preset's `jwt`.
 * Every JSON key comes from policySchema (its description there, and in the
 * README); the keys declared below refine what the schema leaves to code.
 */
export interface JwtPolicy extends Omit<PolicyJson, 'keys' | 'requireClaims' | 'requireHeaders' | 'decrypt' | 'challenge' | 'revocation' | 'cache'> {
  /** Key sources, all combined (see KeySource). */
  keys?: KeySource[]
  requireClaims?: RequirementEntry[]
  requireHeaders?: RequirementEntry[]
  challenge?: ChallengeOptions
  revocation?: RevocationFiles
  /** Verified-token cache; `false` turns it off. */
  cache?: CacheOptions | false
  /**
   * One entry per issuer (Envoy `providers`): the token's (unverified) `iss`
   * picks exactly one, whose keys alone verify it and whose keys override the
   * route's for that token. An unknown `iss` is refused (FJG_ERR_TOKEN_ISSUER).
   */
  providers?: ProviderPolicy[]
  /** Encrypted tokens (JWE; NGINX Plus `auth_jwt_type encrypted | nested`). */
  decrypt?: DecryptOptions
  /** Plugin API only (a function: not in the JSON Schema): false (or a promise of false) answers 403. */
  require?: (request: FastifyRequest) => boolean | Promise<boolean>
}

/** A provider: its issuer and the policy keys that depend on it (schema.ts PROVIDER_KEYS, which fills the provider schema too). */
export interface ProviderPolicy extends Pick<JwtPolicy, Exclude<typeof PROVIDER_KEYS[number], 'issuer'>> {
  /** The `iss` that selects this provider; without `keys` or `secret`, an http(s) issuer is discovered (OpenID). */
  issuer: string
}

export type JweKeyAlgorithm = typeof JWE_KEY_ALGORITHMS[number]
export type JweEncryption = typeof JWE_ENCRYPTIONS[number]

/**
 * `decrypt`: `algorithms` (alg and enc values in one list) and `type` are the
 * schema's; `keys` is `{ file }` or `{ jwk }`, a union by hand as for KeySource
 * (the schema has one flat object, policy.ts checks "exactly one").
 */
export interface DecryptOptions extends Omit<DecryptJson, 'keys'> {
  /** Private keys: `{ file }` (PEM private key, private JWK or JWKS) or `{ jwk }` (RSA, EC P-256/P-384/P-521, oct). */
  keys: Array<Required<Pick<DecryptKeyJson, 'file'>> | Required<Pick<DecryptKeyJson, 'jwk'>>>
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

// The JSON Schema of a policy: the one source the plugin validates with and the
// preset publishes (schema.json). Key sources and secrets avoid `anyOf`, so every
// error names one path with one message; the "exactly one of" rules that a
// schema would express with `oneOf` are checked in policy.ts with clear text.

export const ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
  // RFC 9864's fully specified name for EdDSA over Ed25519, and ECDSA over secp256k1 (RFC 8812 §3.1).
  'Ed25519', 'ES256K'
] as const

export const OPERATORS = [
  'eq', '!eq', 'gt', 'ge', 'lt', 'le',
  'in', '!in', 'intersect', '!intersect', 'exists', '!exists',
  'contains', '!contains', 'match', '!match'
] as const

/** `decrypt.algorithms`, key management (RFC 7518 §4.1). RSA1_5 (padding oracles) and PBES2 (password based; its p2c is a CPU bomb) are left out. */
export const JWE_KEY_ALGORITHMS = [
  'RSA-OAEP', 'RSA-OAEP-256', 'RSA-OAEP-384', 'RSA-OAEP-512',
  'ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A192KW', 'ECDH-ES+A256KW',
  'A128KW', 'A192KW', 'A256KW', 'A128GCMKW', 'A192GCMKW', 'A256GCMKW',
  'dir'
] as const
/** `decrypt.algorithms`, content encryption (RFC 7518 §5.1). */
export const JWE_ENCRYPTIONS = ['A128GCM', 'A192GCM', 'A256GCM', 'A128CBC-HS256', 'A192CBC-HS384', 'A256CBC-HS512'] as const

/**
 * The policy keys a provider may set (README, Providers): what depends on the
 * token's issuer. Not there: where the token is read and what is forwarded
 * (`token`, `phase`, `optional`, `claimsToHeaders`, ...: one per route, read
 * before the provider is known, or written by the gateway for the route),
 * `cache`, `maxTokenSize`, `decrypt` (before the provider is known), `validateSig`.
 */
export const PROVIDER_KEYS = [
  'issuer', 'realm', 'secret', 'keys', 'algorithms', 'audience', 'leeway', 'validateExp',
  'requireClaims', 'requireHeaders', 'spaceDelimitedClaims', 'challenge', 'tokenType', 'maxAge',
  'revocation', 'certificateBound'
] as const

// Filled from the policy's own properties below, once policySchema exists.
const providerItem = {
  type: 'object',
  additionalProperties: false,
  required: ['issuer'],
  description: 'An issuer with its keys and its own policy keys',
  properties: {} as Record<string, unknown>
}

const stringOrList = {
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 }
  ]
} as const

const path = {
  description: 'a path (`a.b.c`, `roles[0]`, `a.b[2].c`, `"https://example.com/roles"`) or a list of names',
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'array', items: { type: 'string' }, minItems: 1 }
  ]
} as const

const status = { type: 'integer', minimum: 400, maximum: 499, description: 'Answer status when the entry fails (default 403)' } as const

// An entry is { claim, op, value } or { anyOf: [entry, ...] }, nestable. The
// schema stays flat, without a recursive $ref (the gateway embeds this schema
// under its own $defs, where '#/...' would point elsewhere), and without
// `anyOf` (one path, one message): claims.ts checks "one form or the other"
// and the nested entries with messages that name their path.
const requirement = {
  type: 'object',
  additionalProperties: false,
  description: '{ "claim", "op", "value" } or { "anyOf": [entry, ...] }, with an optional "status"',
  properties: {
    claim: path,
    op: { enum: OPERATORS },
    value: {},
    status,
    anyOf: { type: 'array', minItems: 1, items: { type: 'object' }, description: 'Passes when any entry passes (nestable)' }
  }
} as const

const headerMap = {
  type: 'object',
  description: 'Request header name → claim path',
  propertyNames: { pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$' },
  additionalProperties: path
} as const

const keySource = {
  type: 'object',
  description: 'Exactly one of file, jwk, jwks, keyval, issuer (issuer beside another binds it)',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    file: { type: 'string', minLength: 1, description: 'JWK, JWKS, keyval JSON or PEM file (auth_jwt_key_file)' },
    jwk: { type: 'object', description: 'An inline JWK' },
    jwks: { type: 'string', pattern: '^https?://', description: 'JWKS endpoint URL (auth_jwt_key_request)' },
    keyval: { type: 'string', pattern: '^https?://', description: 'URL of a JSON object kid → key' },
    issuer: { type: 'string', minLength: 1, description: 'Alone: OpenID issuer URL, discovery → jwks_uri. Beside file/jwk/jwks/keyval: binds those keys to this `iss`' },
    cacheTtl: { type: 'number', exclusiveMinimum: 0, description: 'Seconds a fetched set is kept (default 600)' },
    timeout: { type: 'number', exclusiveMinimum: 0, description: 'Milliseconds a fetch may take (default 5000)' },
    cooldown: { type: 'number', minimum: 0, description: 'Seconds between refetches on an unknown kid (default 30)' },
    maxStale: { type: 'number', minimum: 0, description: 'Seconds the last good set is served while the source fails (default 86400)' },
    tls: {
      type: 'object',
      additionalProperties: false,
      description: 'TLS toward a jwks/keyval/issuer endpoint (files relative to the config folder): proxy_ssl_trusted_certificate, proxy_ssl_certificate(_key), proxy_ssl_name, proxy_ssl_verify',
      properties: {
        ca: { type: 'string', minLength: 1, description: 'PEM file of the CA(s) to trust instead of the bundled roots' },
        cert: { type: 'string', minLength: 1, description: 'PEM client certificate (mutual TLS); needs key' },
        key: { type: 'string', minLength: 1, description: 'PEM private key of cert' },
        servername: { type: 'string', minLength: 1, description: 'Name verified in the certificate and sent as SNI (default: the URL host)' },
        rejectUnauthorized: { type: 'boolean', description: 'false turns certificate verification off (a warning at start); default true' }
      }
    }
  }
} as const

export const policySchema = {
  $id: 'https://fastify-jwt-gateway.dev/schemas/policy.json',
  type: 'object',
  additionalProperties: false,
  properties: {
    realm: { type: 'string', description: 'realm in WWW-Authenticate (auth_jwt "realm")' },
    token: {
      description: '"header:authorization" (Bearer), "header:<name>", "cookie:<name>", "query:<name>", or a list tried in order',
      anyOf: [
        { type: 'string', pattern: '^(header|cookie|query):.+$' },
        { type: 'array', minItems: 1, items: { type: 'string', pattern: '^(header|cookie|query):.+$' } }
      ]
    },
    secret: {
      description: 'HMAC key: a UTF-8 string or { "base64": "..." } (jwt_secret)',
      type: ['string', 'object'],
      minLength: 1,
      additionalProperties: false,
      required: ['base64'],
      properties: {
        base64: { type: 'string', minLength: 1 },
        issuer: { type: 'string', minLength: 1, description: 'Binds the secret to this `iss`' }
      }
    },
    keys: { type: 'array', items: keySource, description: 'Key sources, all combined' },
    algorithms: { type: 'array', minItems: 1, items: { enum: ALGORITHMS }, description: 'Allowed algorithms; default: derived from the keys' },
    issuer: { ...stringOrList, description: 'Allowed `iss` values (jwt_issuer)' },
    audience: { ...stringOrList, description: 'Allowed `aud` values (jwt_audience)' },
    leeway: { type: 'number', minimum: 0, description: 'Seconds of clock skew for exp and nbf (jwt_leeway)' },
    validateExp: { type: 'boolean', description: 'Check exp and nbf (jwt_validate_exp); default true' },
    validateSig: { type: 'boolean', description: 'Check the signature (jwt_validate_sig); default true' },
    requireClaims: { type: 'array', items: requirement, description: 'jwt_require_claim' },
    requireHeaders: { type: 'array', items: requirement, description: 'jwt_require_header' },
    spaceDelimitedClaims: {
      type: 'array',
      items: { type: 'string', minLength: 1 },
      description: 'Claims whose string value is a space-separated list for the list operators (default ["scope", "scp"])'
    },
    challenge: {
      type: 'object',
      additionalProperties: false,
      properties: {
        scope: { type: 'string', minLength: 1, description: 'RFC 6750 scope="..." in every WWW-Authenticate' },
        resourceMetadata: { type: 'string', pattern: '^https?://', description: 'RFC 9728 resource_metadata="..." in every WWW-Authenticate' }
      },
      description: 'Extra WWW-Authenticate parameters (auth_jwt "realm" + add_header / Envoy www-authenticate)'
    },
    tokenType: { type: 'string', minLength: 1, description: 'Required typ header, e.g. "at+jwt" (RFC 9068 §4); "application/" optional' },
    maxAge: { type: 'number', exclusiveMinimum: 0, description: 'Seconds since iat after which a token is refused; iat becomes required (auth_jwt_validate_iat / Envoy max_lifetime)' },
    claimsToHeaders: { ...headerMap, description: 'Header name → claim path (jwt_claim + proxy_set_header)' },
    joseHeadersToHeaders: { ...headerMap, description: 'Header name → JOSE header path (jwt_header)' },
    payloadHeader: { type: 'string', pattern: '^[!#$%&\'*+.^_`|~0-9A-Za-z-]+$', description: 'Header carrying the whole payload, base64url ($jwt_claims)' },
    forwardToken: { type: 'boolean', description: 'Keep the token for the upstream; default true' },
    revocation: {
      type: 'object',
      additionalProperties: false,
      properties: {
        sub: { type: 'string', minLength: 1 },
        kid: { type: 'string', minLength: 1 },
        jti: { type: 'string', minLength: 1 },
        redis: {
          type: 'object',
          additionalProperties: false,
          required: ['url'],
          properties: {
            url: { type: 'string', pattern: '^rediss?://', description: 'redis://[user:password@]host:port[/db] (rediss:// for TLS)' },
            prefix: { type: 'string', description: 'Key and channel prefix (default "fjg:")' }
          },
          description: 'Revoked sub, kid and jti values shared by every instance through Redis'
        }
      },
      description: 'Revocation list files (jwt_revocation_list_sub / _kid / jti) and/or a shared Redis store'
    },
    phase: { enum: ['access', 'preaccess'], description: 'access (preHandler, default) or preaccess (onRequest) (jwt_phase)' },
    optional: { type: 'boolean', description: 'A missing token is fine; a bad one is still 401' },
    cache: {
      description: 'Verified-token cache: { size, ttl } or false',
      anyOf: [
        { const: false },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            size: { type: 'integer', minimum: 1 },
            ttl: { type: 'number', exclusiveMinimum: 0 }
          }
        }
      ]
    },
    maxTokenSize: { type: 'integer', minimum: 64, description: 'Bytes; longer tokens are refused before decoding (default 16384)' },
    certificateBound: {
      enum: [true, false, 'if-present'],
      description: 'RFC 8705 certificate-bound tokens: cnf["x5t#S256"] must be the SHA-256 thumbprint of the TLS client certificate; "if-present": tokens without it pass'
    },
    providers: {
      type: 'array',
      minItems: 1,
      items: providerItem,
      description: 'One entry per issuer: the token\'s iss picks it, its keys verify the token, its keys override the route\'s (Envoy providers)'
    },
    decrypt: {
      type: 'object',
      additionalProperties: false,
      required: ['keys', 'algorithms'],
      properties: {
        keys: {
          type: 'array',
          minItems: 1,
          description: 'Decryption keys: { "file": PEM private key, private JWK or JWKS } or { "jwk": {...} }',
          items: {
            type: 'object',
            additionalProperties: false,
            minProperties: 1,
            properties: {
              file: { type: 'string', minLength: 1 },
              jwk: { type: 'object' }
            }
          }
        },
        algorithms: { type: 'array', minItems: 2, items: { enum: [...JWE_KEY_ALGORITHMS, ...JWE_ENCRYPTIONS] }, description: 'Allowed alg and enc values, both kinds in one list' },
        type: { enum: ['nested', 'encrypted'], description: 'nested (default): the JWE holds a signed JWT; encrypted: the JWE holds the claims (auth_jwt_type)' }
      },
      description: 'Encrypted tokens, JWE (NGINX Plus auth_jwt_type encrypted | nested)'
    }
  }
} as const

for (const key of PROVIDER_KEYS) providerItem.properties[key] = (policySchema.properties as Record<string, unknown>)[key]
providerItem.properties.issuer = { type: 'string', minLength: 1, description: 'The `iss` that selects this provider; with no keys, an http(s) issuer is used for OpenID discovery' }

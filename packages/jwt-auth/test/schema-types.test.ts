// The policy's types come from policySchema (types.ts). This file must
// typecheck (pnpm typecheck): it fails when an expectTypeOf stops holding or
// a line marked as an expected error stops being one. At run time the
// same values go to the schema: what the type refuses, the schema refuses
// (with the message a user reads), and what the type accepts, it accepts.
import t from 'tap'
import { expectTypeOf } from 'expect-type'
import type {
  CacheOptions, ChallengeOptions, DecryptOptions, JwtPolicy, KeySource, KeySourceTls, ProviderPolicy, RevocationFiles, RevocationRedis
} from '../src/index.js'
import { policySchema, PROVIDER_KEYS } from '../src/schema.js'
import { policyProblems } from '../src/internal.js'

/** The keys an object schema declares. */
type SchemaKeys<S extends { properties: object }> = keyof S['properties']
/** Every key of every member of a union. */
type KeysOfUnion<U> = U extends unknown ? keyof U : never
type Properties = typeof policySchema.properties

// Schema and types cannot drift apart: a key added to (or dropped from) the
// schema is one of the type's keys (or no longer is), so these fail until
// both say the same. `require` is the one key no JSON Schema holds (a function).
expectTypeOf<keyof JwtPolicy>().toEqualTypeOf<SchemaKeys<typeof policySchema> | 'require'>()
expectTypeOf<KeysOfUnion<KeySource>>().toEqualTypeOf<SchemaKeys<Properties['keys']['items']>>()
expectTypeOf<keyof KeySourceTls>().toEqualTypeOf<SchemaKeys<Properties['keys']['items']['properties']['tls']>>()
expectTypeOf<keyof ProviderPolicy>().toEqualTypeOf<typeof PROVIDER_KEYS[number]>()
expectTypeOf<keyof RevocationFiles>().toEqualTypeOf<SchemaKeys<Properties['revocation']>>()
expectTypeOf<keyof RevocationRedis>().toEqualTypeOf<SchemaKeys<Properties['revocation']['properties']['redis']>>()
expectTypeOf<keyof ChallengeOptions>().toEqualTypeOf<SchemaKeys<Properties['challenge']>>()
expectTypeOf<keyof DecryptOptions>().toEqualTypeOf<SchemaKeys<Properties['decrypt']>>()
expectTypeOf<keyof CacheOptions>().toEqualTypeOf<SchemaKeys<Properties['cache']['anyOf'][1]>>()

// Optional keys stay optional, required ones required (the `?` is part of the
// type compared), and each has the schema's value type.
expectTypeOf<Pick<JwtPolicy, 'leeway' | 'phase' | 'certificateBound'>>().toEqualTypeOf<{
  leeway?: number
  phase?: 'access' | 'preaccess'
  certificateBound?: boolean | 'if-present'
}>()
expectTypeOf<JwtPolicy['cache']>().toEqualTypeOf<false | { size?: number, ttl?: number } | undefined>()
expectTypeOf<JwtPolicy['secret']>().toEqualTypeOf<string | { base64: string, issuer?: string } | undefined>()
expectTypeOf<RevocationRedis>().toEqualTypeOf<{ url: string, prefix?: string }>()
expectTypeOf<Pick<ProviderPolicy, 'issuer'>>().toEqualTypeOf<{ issuer: string }>()
expectTypeOf<Pick<DecryptOptions, 'type'>>().toEqualTypeOf<{ type?: 'nested' | 'encrypted' }>()
expectTypeOf<{}>().toExtend<JwtPolicy>()

/** A value of the type, and the schema's problems with it. */
type Case = [string, JwtPolicy, string[]]

// Each line is refused by the type (the @ts-expect-error above it) and by the schema.
const refused: Case[] = [
  // @ts-expect-error: an unknown key (additionalProperties: false at the top)
  ['unknown key', { leeway: 1, leway: 2 }, ['leway: unknown key']],
  // @ts-expect-error: an unknown key in a nested object (revocation)
  ['unknown nested key', { revocation: { sid: 'sid.txt' } }, ['revocation.sid: unknown key']],
  // @ts-expect-error: an unknown key in a key source
  ['unknown key-source key', { keys: [{ file: 'k.pem', kid: 'a' }] }, ['keys[0].kid: unknown key']],
  // @ts-expect-error: an unknown key in the secret object
  ['unknown secret key', { secret: { base64: 'eA==', kid: 'a' } }, ['secret.kid: unknown key']],
  // @ts-expect-error: an unknown key in a requirement entry
  ['unknown entry key', { requireClaims: [{ claim: 'x', op: 'eq', valu: 1 }] }, ['requireClaims[0].valu: unknown key']],
  // @ts-expect-error: a wrong value type (url is a string)
  ['wrong type', { revocation: { redis: { url: 6379 } } }, ['revocation.redis.url: must be string, got 6379']],
  // @ts-expect-error: a wrong value type in a header map
  ['wrong map value', { claimsToHeaders: { 'x-a': 5 } }, ['claimsToHeaders["x-a"]: must be a path (`a.b.c`, `roles[0]`, `a.b[2].c`, `"https://example.com/roles"`) or a list of names, got 5']],
  // @ts-expect-error: a value outside the enum
  ['outside the enum', { phase: 'rewrite' }, ['phase: must be one of "access", "preaccess", got "rewrite"']],
  // @ts-expect-error: a required key missing (decrypt.algorithms)
  ['missing required key', { decrypt: { keys: [{ file: 'k.pem' }] } }, ['decrypt: must have required property \'algorithms\', got {"keys":[{"file":"k.pem"}]}']],
  // @ts-expect-error: a required key missing (revocation.redis.url)
  ['missing nested required key', { revocation: { redis: {} } }, ['revocation.redis: must have required property \'url\', got {}']],
  // @ts-expect-error: a provider needs its issuer
  ['provider without issuer', { providers: [{ secret: 'a-provider-secret-of-32-bytes-ok!' }] }, ['providers[0]: must have required property \'issuer\', got {"secret":"a-provider-secret-of-32-bytes-ok!"}']]
]

// Accepted by the type and by the schema: one value with every key of the
// schema (Required<>: a key added to the schema must be added here too).
const every: Required<Omit<JwtPolicy, 'require'>> = {
  realm: 'api',
  token: ['header:authorization', 'cookie:token'],
  secret: { base64: 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==', issuer: 'https://issuer.example' },
  keys: [
    { file: 'k.pem', issuer: 'https://a.example' },
    { jwk: { kty: 'oct', k: 'eA' } },
    { jwks: 'https://a.example/jwks.json', cacheTtl: 60, timeout: 1000, cooldown: 5, maxStale: 600, tls: { ca: 'ca.pem', servername: 'a.example', rejectUnauthorized: true } },
    { keyval: 'https://b.example/keys' },
    { issuer: 'https://c.example' }
  ],
  algorithms: ['RS256', 'ES256', 'EdDSA'],
  issuer: 'https://issuer.example',
  audience: ['api', 'web'],
  leeway: 5,
  validateExp: true,
  validateSig: true,
  requireClaims: [{ claim: 'scope', op: 'contains', value: 'read' }, { anyOf: [{ claim: ['a', 'b'], op: 'exists' }], status: 404 }],
  requireHeaders: [{ claim: 'typ', op: 'eq', value: 'JWT' }],
  spaceDelimitedClaims: ['scope'],
  challenge: { scope: 'read', resourceMetadata: 'https://api.example/.well-known/oauth-protected-resource' },
  tokenType: 'at+jwt',
  maxAge: 3600,
  claimsToHeaders: { 'x-user': 'sub', 'x-org': ['org', 'id'] },
  joseHeadersToHeaders: { 'x-kid': 'kid' },
  payloadHeader: 'x-jwt-payload',
  forwardToken: false,
  revocation: { sub: 'sub.txt', kid: 'kid.txt', jti: 'jti.txt', redis: { url: 'redis://127.0.0.1:6379', prefix: 'fjg:' } },
  phase: 'preaccess',
  optional: true,
  cache: { size: 100, ttl: 60 },
  maxTokenSize: 8192,
  certificateBound: 'if-present',
  providers: [{ issuer: 'https://p.example', audience: 'p', requireClaims: [{ claim: 'x', op: 'exists' }] }],
  decrypt: { keys: [{ file: 'enc.pem' }, { jwk: { kty: 'oct', k: 'eA' } }], algorithms: ['RSA-OAEP-256', 'A256GCM'], type: 'encrypted' }
}

t.test('what the derived type refuses, the schema refuses', async (t) => {
  t.plan(refused.length)
  for (const [what, value, problems] of refused) t.same(policyProblems(value), problems, what)
})

t.test('a policy with every schema key type-checks and passes the schema', async (t) => {
  t.same(Object.keys(every).sort(), Object.keys(policySchema.properties).sort(), 'every key of the schema is in the example')
  t.same(policyProblems(every), [])
  t.same(policyProblems({}), [], 'every key is optional')
})

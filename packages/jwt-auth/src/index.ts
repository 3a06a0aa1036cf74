import { jwtAuth } from './plugin.js'

export { jwtAuth }
export default jwtAuth

export * as errors from './errors.js'
export {
  compilePolicy, mergePolicy, policyProblems, formatSchemaErrors, jsonPath, SharedResources,
  DEFAULT_REALM, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_CACHE_SIZE, DEFAULT_CACHE_TTL, DEFAULT_PHASE,
  type CompiledPolicy, type CompileContext
} from './policy.js'
export { createHook, attachHook, type HookOptions, type JwtAuthDecorator } from './plugin.js'
export { headerValue, readPath, splitPath, parsePath, formatPath, DEFAULT_SPACE_DELIMITED_CLAIMS, type Explained } from './claims.js'
export { explainToken, duration, type Explanation, type ExplainStep } from './explain.js'
export type { Answer } from './answer.js'
export { peerCertificate, compileBindingCheck, type PeerCertificate, type BindingCheck } from './cert-bound.js'
export { policySchema, ALGORITHMS, OPERATORS } from './schema.js'
export type { KeySourceStatus } from './key-store.js'
export {
  DEFAULT_JWKS_CACHE_TTL, DEFAULT_JWKS_TIMEOUT, DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_MAX_STALE,
  MIN_CACHE_CONTROL_TTL, MAX_CACHE_CONTROL_TTL, MAX_DOCUMENT_BYTES
} from './remote-source.js'
export { REVOCATION_POLL_INTERVAL, type RevocationKind } from './revocation.js'
export {
  DEFAULT_REVOCATION_PREFIX, REVOCATION_START_TIMEOUT, REVOCATION_RESYNC_INTERVAL,
  keyOf as revocationKey, channelOf as revocationChannel, loadRevoked, revokeInRedis, unrevokeInRedis, redisOptions, safeUrl,
  type RevocationStatus, type RevocationChange
} from './revocation-redis.js'
export type * from './types.js'
export type { KeySourceTls } from './remote-tls.js'

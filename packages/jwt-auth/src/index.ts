// The public API: what a service author calls (the plugin, its options' types,
// the error table, the defaults, `explainToken`, the Redis revocation writers).
// What our gateway and preset build on besides is `./internal` (internal.ts):
// no promise is made about it between versions.
import { jwtAuth } from './plugin.js'

export { jwtAuth }
export default jwtAuth

export * as errors from './errors.js'
export {
  compilePolicy,
  DEFAULT_REALM, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_CACHE_SIZE, DEFAULT_CACHE_TTL, DEFAULT_PHASE,
  type CompiledPolicy
} from './policy.js'
export type { JwtAuthDecorator } from './plugin.js'
export { DEFAULT_SPACE_DELIMITED_CLAIMS } from './claims.js'
export { explainToken, type Explanation, type ExplainStep } from './explain.js'
export { policySchema, ALGORITHMS, OPERATORS } from './schema.js'
export type { KeySourceStatus } from './key-store.js'
export {
  DEFAULT_JWKS_CACHE_TTL, DEFAULT_JWKS_TIMEOUT, DEFAULT_JWKS_COOLDOWN, DEFAULT_JWKS_MAX_STALE,
  MIN_CACHE_CONTROL_TTL, MAX_CACHE_CONTROL_TTL, MAX_DOCUMENT_BYTES
} from './remote-source.js'
export { REVOCATION_POLL_INTERVAL, type RevocationKind } from './revocation.js'
export {
  DEFAULT_REVOCATION_PREFIX, REVOCATION_START_TIMEOUT, REVOCATION_RESYNC_INTERVAL,
  loadRevoked, revokeInRedis, unrevokeInRedis,
  type RevocationStatus, type RevocationChange
} from './revocation-redis.js'
export type * from './types.js'
export type { KeySourceTls } from './remote-tls.js'

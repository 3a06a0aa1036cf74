import { jwtAuth } from './plugin.js'

export { jwtAuth }
export default jwtAuth

export * as errors from './errors.js'
export {
  compilePolicy, mergePolicy, policyProblems, jsonPath, SharedResources,
  DEFAULT_REALM, DEFAULT_LEEWAY, DEFAULT_MAX_TOKEN_SIZE, DEFAULT_CACHE_SIZE, DEFAULT_CACHE_TTL, DEFAULT_PHASE,
  type CompiledPolicy, type CompileContext
} from './policy.js'
export { createHook, attachHook, type JwtAuthDecorator } from './plugin.js'
export { headerValue, readPath } from './claims.js'
export { policySchema, ALGORITHMS, OPERATORS } from './schema.js'
export type { KeySourceStatus } from './key-store.js'
export type * from './types.js'

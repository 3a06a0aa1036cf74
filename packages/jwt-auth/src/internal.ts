// `@fastify-jwt-gateway/jwt-auth/internal`: the building blocks the gateway and
// the preset of this repository use, on top of the public API (re-exported
// whole, so one import line serves). Not for applications: these names may
// change in any release. The README's "Public API" section lists both sides.
export * from './index.js'
export { mergePolicy, policyProblems, formatSchemaErrors, jsonPath, SharedResources, type CompileContext } from './policy.js'
export { createHook } from './plugin.js'
export { headerValue, readPath, splitPath, parsePath, formatPath, wireValue, compileHeaderWriter, type ForwardedHeaderSpec } from './claims.js'
export { peerCertificate, type PeerCertificate } from './cert-bound.js'
export { keyOf as revocationKey, redisOptions, safeUrl } from './revocation-redis.js'
export { loadKeySourceTls, type ConnectTls } from './remote-tls.js'
export { setEcThreadPool } from './signature.js'

// `@fastify-jwt-gateway/gateway/internal`: what the preset of this repository
// uses on top of the public API (re-exported whole, so one import line
// serves). Not for applications: these names may change in any release.
export * from './index.js'
export { checkedConfig } from './validated.js'

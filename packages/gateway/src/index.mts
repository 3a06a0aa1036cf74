// The ESM entry (package.json `exports` → `import`): the one CommonJS build
// re-exported with the plugin as the real default export, so `import gateway
// from '@fastify-jwt-gateway/gateway'` type-checks under `module: nodenext`
// (a CommonJS module's ESM default is its `module.exports` object, TS2769).
import { gatewayPlugin } from './index.js'

export * from './index.js'
export default gatewayPlugin

// The ESM entry (package.json `exports` → `import`). The package is CommonJS, and
// Node gives an ESM `import x from` of a CommonJS module its `module.exports`
// object, not `exports.default`: typed as the namespace, `register(x)` failed to
// type-check (TS2769). This file re-exports the one CommonJS build (no second
// copy of the plugin's state) with the plugin as the real default export.
import { jwtAuth } from './index.js'

export * from './index.js'
export default jwtAuth

// Writes schema.json, the JSON Schema of the preset's config, from its one
// source: the gateway's gatewayConfigSchema (whose `jwt` parts are jwt-auth's
// policy schema). Run by `pnpm run build` after tsc; the file ships in the
// package so a config can say "$schema": "./node_modules/fastify-jwt-gateway/schema.json".
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const here = new URL('..', import.meta.url)
const require = createRequire(new URL('package.json', here))
const { gatewayConfigSchema } = require('@fastify-jwt-gateway/gateway')
if (gatewayConfigSchema === undefined || typeof gatewayConfigSchema !== 'object') {
  console.error('write-schema: @fastify-jwt-gateway/gateway exports no gatewayConfigSchema (build it first)')
  process.exit(1)
}
const out = fileURLToPath(new URL('schema.json', here))
writeFileSync(out, JSON.stringify(gatewayConfigSchema, null, 2) + '\n')
console.log(`write-schema: ${out}`)

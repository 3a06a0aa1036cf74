import { compilePolicy } from '@fastify-jwt-gateway/jwt-auth'
import { makeKey, mintPool } from './lib/keys.mjs'
const key = makeKey('ES256')
const tokens = mintPool(key, 4096)
const ours = compilePolicy(key.policy).verify
let j = 0
const t = Date.now()
while (Date.now() - t < 8000) for (let i = 0; i < 100; i++) ours(tokens[(j++) & 4095])

import { compilePolicy } from '@fastify-jwt-gateway/jwt-auth'
import { createPublicKey, verify } from 'node:crypto'
import { makeKey, mintPool } from './lib/keys.mjs'
const key = makeKey('ES256')
const tokens = mintPool(key, 4096)
const pk = { key: createPublicKey(key.verifyKey), dsaEncoding: 'ieee-p1363' }
const bare = (t) => { const dot = t.lastIndexOf('.'); return verify('sha256', Buffer.from(t.slice(0, dot)), pk, Buffer.from(t.slice(dot + 1), 'base64url')) }
const ours = compilePolicy(key.policy).verify
const oursOff = compilePolicy({ ...key.policy, cache: false }).verify
const ours1 = compilePolicy({ ...key.policy, cache: { size: 1 } }).verify
const fns = { bare, ours, oursOff, ours1 }
const res = { bare: [], ours: [], oursOff: [], ours1: [] }
let j = 0
for (let round = 0; round < 40; round++) {
  for (const [name, f] of Object.entries(fns)) {
    const n = 300
    const c0 = process.cpuUsage()
    for (let i = 0; i < n; i++) { const r = f(tokens[(j++) & 4095]); if (r === false || r.then) throw new Error('x') }
    const c = process.cpuUsage(c0)
    if (round >= 5) res[name].push((c.user + c.system) / n)
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1] }
for (const k of Object.keys(res)) console.log(k.padEnd(8), med(res[k]).toFixed(1), 'µs cpu')
for (const k of Object.keys(res)) console.log(k, (med(res[k]) / med(res.bare)).toFixed(3))

// The seed scenario, end to end: the "leads / employees" API behind the gateway.
//
//   npx -y pnpm@12.21.0 run build && node examples/run-demo.mjs [--serve]
//
// Starts the demo upstream and a gateway built from examples/gateway.json, mints
// tokens, and shows what each request gets: public pages pass, /api/* needs a
// token, /api/employees needs role hr or admin, and the upstream receives the
// caller's identity in headers. --serve keeps both running and prints curl lines.
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'
import { buildGateway } from '@fastify-jwt-gateway/gateway'
import { createDemoUpstream, loadConfig } from 'fastify-jwt-gateway'

const serve = process.argv.includes('--serve')
// gateway.json reads the secret from the environment, as a real deployment would.
process.env.JWT_SECRET ??= 'demo-secret-change-me-0123456789abcdef'

// 1. The upstream, on a free port (the config's 127.0.0.1:9000 is replaced below).
const upstream = createDemoUpstream()
const upstreamUrl = await upstream.listen({ host: '127.0.0.1', port: 0 })

// 2. The gateway: the preset's loader does ${ENV} and validation; the gateway builds it.
const { config, baseDir } = loadConfig(join(import.meta.dirname, 'gateway.json'))
config.routes = config.routes.map((r) => ({ ...r, upstream: upstreamUrl }))
const gateway = await buildGateway(config, { baseDir, logger: serve ? { level: config.server?.logLevel ?? 'info' } : false })
const gatewayUrl = await gateway.listen({ host: '127.0.0.1', port: serve ? (config.server?.port ?? 8080) : 0 })

// 3. Tokens, as the issuer would mint them.
const sign = createSigner({ key: process.env.JWT_SECRET, iss: 'https://issuer.example', aud: 'leads-api', expiresIn: 3600_000 })
const sales = sign({ sub: 'ada', role: 'sales' })
const hr = sign({ sub: 'grace', role: 'hr' })

async function show (label, path, token) {
  const res = await fetch(gatewayUrl + path, { headers: token ? { authorization: `Bearer ${token}` } : {} })
  const body = await res.json()
  const detail = res.ok
    ? (body.identity ? `identity at the upstream: ${JSON.stringify(body.identity)}` : body.message)
    : `${body.code}${res.headers.get('www-authenticate') ? `  (WWW-Authenticate: ${res.headers.get('www-authenticate')})` : ''}`
  console.log(`${String(res.status).padEnd(4)} GET ${path.padEnd(15)} ${label.padEnd(18)} ${detail}`)
  return res.status
}

console.log(`upstream ${upstreamUrl}  ←  gateway ${gatewayUrl}\n`)
const statuses = [
  await show('no token', '/', null),
  await show('no token', '/about', null),
  await show('no token', '/api/leads', null),
  await show('forged token', '/api/leads', sales.slice(0, -4) + 'AAAA'),
  await show('token (sales)', '/api/leads', sales),
  await show('token (sales)', '/api/employees', sales),
  await show('token (hr)', '/api/employees', hr)
]
const expected = [200, 200, 401, 401, 200, 403, 200]
const ok = statuses.every((s, i) => s === expected[i])
console.log(`\n${ok ? 'as expected' : `UNEXPECTED: got ${statuses.join(' ')}, expected ${expected.join(' ')}`}`)

if (serve) {
  // Printing a token is fine here: it is a demo token for a demo secret.
  console.log(`\nserving; try:\n  curl -i ${gatewayUrl}/api/leads\n  curl -i -H 'authorization: Bearer ${sales}' ${gatewayUrl}/api/leads\n(Ctrl-C to stop)`)
  const stop = async () => { await gateway.close(); await upstream.close(); process.exit(0) }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
} else {
  await gateway.close()
  await upstream.close()
  process.exitCode = ok ? 0 : 1
}

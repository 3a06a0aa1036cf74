// The gateway inside an existing Fastify service: one `register` line.
//
//   npx -y pnpm@12.21.0 run build && node examples/embed.mjs
//
// The service keeps its own routes; /crm/* is proxied to the leads API with
// the caller's identity, behind a token.
import Fastify from 'fastify'
import { createSigner } from 'fast-jwt'
import { gatewayPlugin } from '@fastify-jwt-gateway/gateway'
import { createDemoUpstream } from 'fastify-jwt-gateway'

const secret = process.env.JWT_SECRET ?? 'demo-secret-change-me-0123456789abcdef'
const leads = createDemoUpstream()
const leadsUrl = await leads.listen({ host: '127.0.0.1', port: 0 })

const app = Fastify()
app.get('/status', async () => ({ service: 'billing', up: true })) // the service's own route

await app.register(gatewayPlugin, {
  jwt: { secret, claimsToHeaders: { 'x-user-id': 'sub' } },
  routes: [{ prefix: '/crm', upstream: leadsUrl, rewritePrefix: '/api' }]
})

const url = await app.listen({ host: '127.0.0.1', port: 0 })
const token = createSigner({ key: secret, expiresIn: 60_000 })({ sub: 'ada' })

const own = await fetch(`${url}/status`)
console.log(own.status, 'GET /status           ', JSON.stringify(await own.json()))
const anonymous = await fetch(`${url}/crm/leads`)
console.log(anonymous.status, 'GET /crm/leads        ', (await anonymous.json()).code)
const signedIn = await fetch(`${url}/crm/leads`, { headers: { authorization: `Bearer ${token}` } })
const body = await signedIn.json()
console.log(signedIn.status, 'GET /crm/leads (token)', `${body.leads.length} leads, identity at the upstream: ${JSON.stringify(body.identity)}`)

await app.close()
await leads.close()
process.exitCode = own.status === 200 && anonymous.status === 401 && signedIn.status === 200 ? 0 : 1

import { generateKeyPairSync } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { createSigner } from 'fast-jwt'
import { createDemoUpstream } from './demo-upstream.js'
import type { GatewayConfig } from './gateway.js'

// The demo: no config anywhere, so everything is made up on the spot — a fresh
// ES256 key pair (never written to disk), the leads / employees upstream on a
// free loopback port, and a token minted with the private key, valid one hour.

export const DEMO_ISSUER = 'https://demo.fastify-jwt-gateway.local'
export const DEMO_KID = 'demo-es256'
/** Seconds the demo token is valid. */
export const DEMO_TOKEN_TTL = 3600

export interface Demo {
  upstream: FastifyInstance
  upstreamUrl: string
  config: GatewayConfig
  token: string
}

/** Starts the demo upstream and makes the gateway config and a token for it. */
export async function prepareDemo (host: string, port: number): Promise<Demo> {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const jwk = { ...publicKey.export({ format: 'jwk' }), kid: DEMO_KID, alg: 'ES256', use: 'sig' }
  const sign = createSigner({
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    algorithm: 'ES256',
    kid: DEMO_KID,
    iss: DEMO_ISSUER,
    expiresIn: DEMO_TOKEN_TTL * 1000
  })
  const token = sign({ sub: 'demo-user', name: 'Demo User', role: 'sales' })

  const upstream = createDemoUpstream()
  await upstream.listen({ host: '127.0.0.1', port: 0 })
  const address = upstream.server.address()
  const upstreamUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

  const config: GatewayConfig = {
    server: { host, port, logLevel: 'info' },
    jwt: {
      realm: 'demo',
      keys: [{ jwk }],
      issuer: DEMO_ISSUER,
      claimsToHeaders: { 'x-user-id': 'sub', 'x-user-name': 'name', 'x-user-role': 'role' }
    },
    routes: [
      { prefix: '/api', upstream: upstreamUrl, rewritePrefix: '/api' },
      { prefix: '/', upstream: upstreamUrl, jwt: false }
    ]
  }
  return { upstream, upstreamUrl, config, token }
}

/** The lines printed when the demo is up: three curl commands that work as shown. */
export function demoBanner (url: string, demo: Demo): string {
  return [
    '',
    `Demo gateway on ${url}, in front of the leads / employees API at ${demo.upstreamUrl}.`,
    'Demo keys and token were generated for this run only. Try:',
    'Public route, no token needed (200):',
    `  curl -i ${url}/about`,
    'Protected route without a token (401):',
    `  curl -i ${url}/api/leads`,
    'Protected route with the demo token (200; the upstream echoes x-user-id and friends):',
    `  curl -i -H 'Authorization: Bearer ${demo.token}' ${url}/api/leads`,
    '',
    'Your own config: fastify-jwt-gateway start --config gateway.json (see fastify-jwt-gateway --help)',
    ''
  ].join('\n')
}

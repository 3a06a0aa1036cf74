import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance } from 'fastify'
import { createSigner } from 'fast-jwt'
import jwtAuth, { type JwtPolicy } from '../../src/index.js'

export const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'

/** Signs an HS256 token with SECRET; exp 5 min from now unless the payload says otherwise. */
export function hs (payload: Record<string, unknown> = {}, header: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000)
  return createSigner({ key: SECRET, noTimestamp: true, ...(Object.keys(header).length ? { header } : {}) } as any)({ iat: now, exp: now + 300, ...payload })
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })

interface T { teardown (fn: () => unknown): void }

/**
 * A Fastify app with the plugin and an echo route `/` that returns request.jwt
 * and the request headers the handler sees. `routes` can add more.
 */
export async function build (t: T, policy: JwtPolicy, routes?: (app: FastifyInstance) => void): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, policy)
  app.get('/', async (request) => ({ jwt: request.jwt, headers: request.headers }))
  routes?.(app)
  await app.ready()
  return app
}

/** HS256 over arbitrary JSON, bypassing a signer's checks (for wrong-typed claims). */
export function hsRaw (payload: unknown, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const enc = (v: unknown): string => Buffer.from(JSON.stringify(v)).toString('base64url')
  const input = `${enc(header)}.${enc(payload)}`
  return `${input}.${createHmac('sha256', SECRET).update(input).digest('base64url')}`
}

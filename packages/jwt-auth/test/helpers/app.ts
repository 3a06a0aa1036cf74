import { createHmac } from 'node:crypto'
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify'
import { createSigner } from 'fast-jwt'
import type { Test } from 'tap'
import jwtAuth, { type JwtPolicy, type KeySourceStatus } from '../../src/index.js'

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

/** GET / with the token as a Bearer credential. */
export function get (app: FastifyInstance, token: string): Promise<LightMyRequestResponse> {
  return app.inject({ url: '/', headers: { authorization: `Bearer ${token}` } })
}

/** The plugin's message for the codes `denied` knows without being told. */
const MESSAGES: Record<string, string> = {
  FJG_ERR_TOKEN_SIGNATURE: 'The token signature is invalid',
  FJG_ERR_TOKEN_ALGORITHM: 'The token algorithm is not allowed',
  FJG_ERR_TOKEN_KEY_UNKNOWN: 'No key matches the token',
  FJG_ERR_TOKEN_CRIT: 'The token has an unsupported critical header'
}

/** The exact 401: status, WWW-Authenticate (quotes shown as '), body. */
export function denied (t: Test, res: LightMyRequestResponse, code: string, message = MESSAGES[code] as string): void {
  t.equal(res.statusCode, 401, `${code}: status`)
  t.equal(res.headers['www-authenticate'], `Bearer realm="api", error="invalid_token", error_description="${message.replace(/"/g, "'")}"`)
  t.strictSame(res.json(), { statusCode: 401, error: 'Unauthorized', code, message })
}

/** Registers the policy and returns the error it must fail with. */
export async function registerError (policy: unknown): Promise<Error & { code?: string }> {
  const app = Fastify()
  try {
    await app.register(jwtAuth, policy as JwtPolicy)
    await app.ready()
  } catch (err) {
    return err as Error
  } finally {
    await app.close()
  }
  throw new Error('registration did not fail')
}

export interface LoggedApp { app: FastifyInstance, logs: Array<Record<string, any>>, status: () => KeySourceStatus[] }

/**
 * An app with the plugin, a `/` route, and its log lines kept as objects.
 * At teardown the test fails if a log line contains any of `issued` (read
 * then, so tokens issued after this call count too).
 */
export async function loggedApp (t: Test, policy: JwtPolicy, issued: Iterable<string>): Promise<LoggedApp> {
  const logs: Array<Record<string, any>> = []
  const app = Fastify({ logger: { level: 'info', stream: { write: (line: string) => { logs.push(JSON.parse(line)) } } } })
  t.teardown(async () => {
    await app.close()
    const text = JSON.stringify(logs)
    for (const tok of issued) if (text.includes(tok)) t.fail('a log line contains a token')
  })
  await app.register(jwtAuth, policy)
  app.get('/', async (request) => ({ sub: request.jwt?.payload.sub }))
  await app.ready()
  return { app, logs, status: () => app.jwtAuth.keyStatus() }
}

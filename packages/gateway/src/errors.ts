// The gateway's own answers and errors. Upstream failures are answered with
// Fastify's JSON error shape and a stable code, as jwt-auth answers denials.
// A class and a table rather than @fastify/error: that package is not a
// dependency of the gateway, and these answers are sent, never thrown.
// Every answer is a frozen constant here, sent by `sendAnswer`, and the table
// is pinned by test/errors.test.ts (count, key === code, status, message).
import type { FastifyReply } from 'fastify'

export interface GatewayAnswer {
  readonly code: string
  readonly statusCode: number
  readonly error: string
  readonly message: string
}

function answer (code: string, statusCode: number, error: string, message: string): GatewayAnswer {
  return Object.freeze({ code, statusCode, error, message })
}

/** The upstream refused or dropped the connection, failed TLS, or answered something unusable. */
export const FJG_ERR_UPSTREAM_UNAVAILABLE = answer('FJG_ERR_UPSTREAM_UNAVAILABLE', 502, 'Bad Gateway', 'The upstream server is unavailable')
/** The upstream did not connect or answer within the timeout. */
export const FJG_ERR_UPSTREAM_TIMEOUT = answer('FJG_ERR_UPSTREAM_TIMEOUT', 504, 'Gateway Timeout', 'The upstream server did not answer in time')
/** The route exists, but not for this method. */
export const FJG_ERR_METHOD_NOT_ALLOWED = answer('FJG_ERR_METHOD_NOT_ALLOWED', 405, 'Method Not Allowed', 'The method is not allowed on this route')
/** The request target is not canonical (dot segments, `%2F`, `\\`, `//`, `#`...): refused before routing (paths.ts). */
export const FJG_ERR_PATH_NOT_CANONICAL = answer('FJG_ERR_PATH_NOT_CANONICAL', 400, 'Bad Request', 'The request path is not canonical')
/** The client sent no body byte within `server.bodyTimeout` (nginx client_body_timeout). */
export const FJG_ERR_BODY_TIMEOUT = answer('FJG_ERR_BODY_TIMEOUT', 408, 'Request Timeout', 'The request body was not received in time')
/** The caller went over the route's `rateLimit` (Retry-After and the rate-limit headers say when to come back). */
export const FJG_ERR_RATE_LIMITED = answer('FJG_ERR_RATE_LIMITED', 429, 'Too Many Requests', 'Rate limit exceeded')
/** The rate-limit store (Redis) failed and the route says `onStoreError: "closed"`. */
export const FJG_ERR_RATE_LIMIT_UNAVAILABLE = answer('FJG_ERR_RATE_LIMIT_UNAVAILABLE', 503, 'Service Unavailable', 'The rate-limit store is unavailable')
/**
 * A `clientCert: "required"` route reached without a verified client
 * certificate (none, or one the listener's CA did not sign). 403, not 401:
 * there is no HTTP authentication scheme to challenge with; the client must
 * reconnect with a certificate.
 */
export const FJG_ERR_CLIENT_CERT_REQUIRED = answer('FJG_ERR_CLIENT_CERT_REQUIRED', 403, 'Forbidden', 'A valid client certificate is required')

/** A `byClaim` route: the verified claim matches no `map` entry and there is no `default`. */
export const FJG_ERR_UPSTREAM_NO_MATCH = answer('FJG_ERR_UPSTREAM_NO_MATCH', 403, 'Forbidden', 'No upstream serves the token\'s claim value')
/** The auth endpoint (server.authPath) was called from an address not in server.authTrustedProxies. */
export const FJG_ERR_AUTH_UNTRUSTED = answer('FJG_ERR_AUTH_UNTRUSTED', 403, 'Forbidden', 'The caller may not use the auth endpoint')
/** The auth endpoint was asked about a path that no route owns. */
export const FJG_ERR_AUTH_NO_ROUTE = answer('FJG_ERR_AUTH_NO_ROUTE', 404, 'Not Found', 'No route owns the original request path')
/** A WebSocket upgrade on a route without `websocket: true` (http-proxy would leave the socket hanging). */
export const FJG_ERR_WEBSOCKET_DISABLED = answer('FJG_ERR_WEBSOCKET_DISABLED', 400, 'Bad Request', 'WebSocket is not enabled on this route')

/** The one way an answer is sent: Fastify's JSON error shape, `{ statusCode, error, code, message }`. */
export function sendAnswer (reply: FastifyReply, a: GatewayAnswer): void {
  reply.code(a.statusCode).send({ statusCode: a.statusCode, error: a.error, code: a.code, message: a.message })
}

export const FJG_ERR_GATEWAY_CONFIG = 'FJG_ERR_GATEWAY_CONFIG'

/** A config that cannot start: every problem at once, one `path: message` line each. */
export class GatewayConfigError extends Error {
  readonly code = FJG_ERR_GATEWAY_CONFIG
  readonly problems: readonly string[]

  constructor (problems: readonly string[]) {
    super(`Invalid gateway config:\n${problems.map((p) => `  ${p}`).join('\n')}`)
    this.name = 'GatewayConfigError'
    this.problems = problems
  }
}

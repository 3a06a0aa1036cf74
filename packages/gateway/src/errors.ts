// The gateway's own answers and errors, one table of @fastify/error
// constructors, as jwt-auth's: constants named by their code, pinned by
// test/errors.test.ts (count, key === code, status, message). A 4xx answer is
// sent by `sendAnswer` as its error, so Fastify's error handler writes the
// body — the default one `{ statusCode, code, error, message }`, or a host's
// `setErrorHandler`, which may reshape it as it reshapes jwt-auth's denials.
// A 5xx answer (502, 503, 504) is sent as that same body directly: see sendAnswer.
import createError, { type FastifyError, type FastifyErrorConstructor } from '@fastify/error'
import { STATUS_CODES } from 'node:http'
import type { FastifyReply } from 'fastify'

/** What an answer constructor makes: a coded error with its HTTP status. */
export type GatewayAnswer = FastifyError & { code: string, statusCode: number }
/** One entry of the answer table. */
export type GatewayAnswerConstructor = FastifyErrorConstructor<{ code: string, statusCode: number }>

/**
 * An answer is not a fault: no stack trace (it would only name our hook;
 * Fastify's error log line would carry it for every answer, and 429s and
 * 502s come in floods).
 */
function answer<C extends string, S extends number> (code: C, message: string, statusCode: S): FastifyErrorConstructor<{ code: C, statusCode: S }> {
  return createError(code, message, statusCode, Error, false)
}

/** The upstream refused or dropped the connection, failed TLS, or answered something unusable. */
export const FJG_ERR_UPSTREAM_UNAVAILABLE = answer('FJG_ERR_UPSTREAM_UNAVAILABLE', 'The upstream server is unavailable', 502)
/** The upstream did not connect or answer within the timeout. */
export const FJG_ERR_UPSTREAM_TIMEOUT = answer('FJG_ERR_UPSTREAM_TIMEOUT', 'The upstream server did not answer in time', 504)
/** The route exists, but not for this method. */
export const FJG_ERR_METHOD_NOT_ALLOWED = answer('FJG_ERR_METHOD_NOT_ALLOWED', 'The method is not allowed on this route', 405)
/** The request target is not canonical (dot segments, `%2F`, `\\`, `//`, `#`...): refused before routing (paths.ts). */
export const FJG_ERR_PATH_NOT_CANONICAL = answer('FJG_ERR_PATH_NOT_CANONICAL', 'The request path is not canonical', 400)
/** The client sent no body byte within `server.bodyTimeout` (nginx client_body_timeout). */
export const FJG_ERR_BODY_TIMEOUT = answer('FJG_ERR_BODY_TIMEOUT', 'The request body was not received in time', 408)
/**
 * The caller went over the route's `rateLimit` (Retry-After and the rate-limit
 * headers say when to come back); `%s` is @fastify/rate-limit's "1 minute".
 */
export const FJG_ERR_RATE_LIMITED = answer('FJG_ERR_RATE_LIMITED', 'Rate limit exceeded, retry in %s', 429)
/** The rate-limit store (Redis) failed and the route says `onStoreError: "closed"`. */
export const FJG_ERR_RATE_LIMIT_UNAVAILABLE = answer('FJG_ERR_RATE_LIMIT_UNAVAILABLE', 'The rate-limit store is unavailable', 503)
/**
 * A `clientCert: "required"` route reached without a verified client
 * certificate (none, or one the listener's CA did not sign). 403, not 401:
 * there is no HTTP authentication scheme to challenge with; the client must
 * reconnect with a certificate.
 */
export const FJG_ERR_CLIENT_CERT_REQUIRED = answer('FJG_ERR_CLIENT_CERT_REQUIRED', 'A valid client certificate is required', 403)

/** A `byClaim` route: the verified claim matches no `map` entry and there is no `default`. */
export const FJG_ERR_UPSTREAM_NO_MATCH = answer('FJG_ERR_UPSTREAM_NO_MATCH', 'No upstream serves the token\'s claim value', 403)
/** The auth endpoint (server.authPath) was called from an address not in server.authTrustedProxies. */
export const FJG_ERR_AUTH_UNTRUSTED = answer('FJG_ERR_AUTH_UNTRUSTED', 'The caller may not use the auth endpoint', 403)
/** The auth endpoint was asked about a path that no route owns. */
export const FJG_ERR_AUTH_NO_ROUTE = answer('FJG_ERR_AUTH_NO_ROUTE', 'No route owns the original request path', 404)
/** A WebSocket upgrade on a route without `websocket: true` (http-proxy would leave the socket hanging). */
export const FJG_ERR_WEBSOCKET_DISABLED = answer('FJG_ERR_WEBSOCKET_DISABLED', 'WebSocket is not enabled on this route', 400)

/**
 * The one way an answer is sent: the status on the reply first (a host's
 * error handler reads it, and keeps it if it throws), then the error, for
 * Fastify's error handler to write. Only before the reply is hijacked: the
 * forwarder hijacks once the upstream's headers are written and never answers
 * after that (proxy.ts cuts the response instead).
 */
export function sendAnswer (reply: FastifyReply, Answer: GatewayAnswerConstructor): void {
  const err = new Answer()
  if (err.statusCode >= 500) {
    // An upstream or store failure is logged once, by the gateway, with what
    // failed (upstream.ts). Through the error handler, Fastify's default would
    // log it a second time at error level (alerts counting twice), and a host
    // handler would have to log it itself. The same body, sent directly.
    reply.code(err.statusCode).send({ statusCode: err.statusCode, code: err.code, error: STATUS_CODES[err.statusCode], message: err.message })
    return
  }
  reply.code(err.statusCode).send(err)
}

const ConfigError = createError('FJG_ERR_GATEWAY_CONFIG', 'Invalid gateway config:\n%s', 500)

/** A config that cannot start: every problem at once, one `path: message` line each. */
export class GatewayConfigError extends ConfigError {
  readonly problems: readonly string[]

  constructor (problems: readonly string[]) {
    super(problems.map((p) => `  ${p}`).join('\n'))
    this.name = 'GatewayConfigError'
    this.problems = problems
  }
}
/** The config error's constructor under its code, as every entry of the table. */
export const FJG_ERR_GATEWAY_CONFIG = GatewayConfigError

import type { FastifyReply } from 'fastify'
import { Pool } from 'undici'
import { FJG_ERR_UPSTREAM_TIMEOUT, FJG_ERR_UPSTREAM_UNAVAILABLE, type GatewayAnswer } from './errors.js'

// One undici pool per upstream origin, shared by every route to it. We build it
// ourselves rather than let @fastify/reply-from do it, because reply-from
// forces `rejectUnauthorized: false` on the pools it makes: a gateway must
// verify its upstreams' certificates unless told otherwise.

/** Sockets per upstream origin. reply-from's default; enough to saturate a local upstream from one process. */
export const DEFAULT_UPSTREAM_CONNECTIONS = 128
/**
 * Idle keep-alive sockets are kept this long when the upstream sends no
 * `Keep-Alive: timeout=` hint (Node servers do, and undici follows it). 10 s
 * is above the default idle timeouts of common servers' clients and below
 * theirs for servers (Node 5 s sends the hint; nginx 75 s).
 */
export const DEFAULT_KEEP_ALIVE_TIMEOUT = 10_000
/** Milliseconds to open a connection (TCP and TLS). */
export const DEFAULT_CONNECT_TIMEOUT = 10_000

export function createUpstreamPool (origin: string): Pool {
  return new Pool(origin, {
    connections: DEFAULT_UPSTREAM_CONNECTIONS,
    // Pipelining would let one slow answer hold up the requests queued behind it.
    pipelining: 1,
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    connect: { rejectUnauthorized: true }
  })
}

const TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT',
  'FST_REPLY_FROM_TIMEOUT', 'FST_REPLY_FROM_GATEWAY_TIMEOUT', 'FST_REPLY_FROM_HTTP_REQUEST_TIMEOUT'
])

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by the upstream',
  EPIPE: 'connection closed by the upstream',
  UND_ERR_SOCKET: 'connection closed by the upstream',
  ENOTFOUND: 'upstream host not found',
  EAI_AGAIN: 'upstream host name lookup failed',
  EHOSTUNREACH: 'upstream host unreachable',
  ENETUNREACH: 'upstream network unreachable',
  UND_ERR_HEADERS_TIMEOUT: 'no response headers within the timeout',
  UND_ERR_BODY_TIMEOUT: 'no response body data within the timeout',
  UND_ERR_CONNECT_TIMEOUT: 'connect timeout',
  ETIMEDOUT: 'connect timeout'
}

interface ErrorLike { code?: string, message?: string, statusCode?: number, cause?: unknown }

/** The undici/system error under reply-from's wrapper. */
function rootCause (err: ErrorLike): ErrorLike {
  let e = err
  for (let i = 0; i < 4 && e.cause !== undefined && e.cause !== null && typeof e.cause === 'object'; i++) e = e.cause as ErrorLike
  return e
}

/** Status, code and a reason for the log, from what reply-from reports. */
export function classifyUpstreamError (err: ErrorLike): { answer: GatewayAnswer, reason: string, cause: string | undefined } {
  const cause = rootCause(err)
  const code = cause.code ?? err.code
  const timedOut = (code !== undefined && TIMEOUT_CODES.has(code)) || (err.code !== undefined && TIMEOUT_CODES.has(err.code)) || err.statusCode === 504
  let reason = code !== undefined ? REASONS[code] : undefined
  if (reason === undefined) {
    // TLS failures carry OpenSSL's code (CERT_HAS_EXPIRED, DEPTH_ZERO_SELF_SIGNED_CERT, ERR_TLS_CERT_ALTNAME_INVALID...).
    reason = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/.test(code ?? '')
      ? `TLS: ${cause.message ?? code}`
      : (cause.message ?? err.message ?? 'unknown error')
  }
  return { answer: timedOut ? FJG_ERR_UPSTREAM_TIMEOUT : FJG_ERR_UPSTREAM_UNAVAILABLE, reason, cause: code }
}

/**
 * reply-from's `onError`: 502 when the upstream cannot be used, 504 when it is
 * too slow; Fastify's JSON error body with a stable code; one log line with
 * the reason. The client never sees the upstream's address or error text.
 */
export function upstreamErrorHandler (upstream: string, prefix: string): (reply: FastifyReply, ctx: { error: ErrorLike }) => void {
  return function onUpstreamError (reply, { error }) {
    const { answer, reason, cause } = classifyUpstreamError(error)
    reply.log.error({ upstream: { url: upstream, route: prefix, status: answer.statusCode, cause } }, `upstream: ${reason}`)
    reply.code(answer.statusCode).send({ statusCode: answer.statusCode, error: answer.error, code: answer.code, message: answer.message })
  }
}

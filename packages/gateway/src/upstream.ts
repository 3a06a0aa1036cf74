import type { FastifyReply } from 'fastify'
import { Pool } from 'undici'
import { FJG_ERR_UPSTREAM_TIMEOUT, FJG_ERR_UPSTREAM_UNAVAILABLE, sendAnswer, type GatewayAnswerConstructor } from './errors.js'
import { clientConnection } from './proxy.js'
import type { ConnectTls } from './upstream-tls.js'

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

export function createUpstreamPool (origin: string, tls: ConnectTls = { rejectUnauthorized: true }): Pool {
  return new Pool(origin, {
    connections: DEFAULT_UPSTREAM_CONNECTIONS,
    // Pipelining would let one slow answer hold up the requests queued behind it.
    pipelining: 1,
    keepAliveTimeout: DEFAULT_KEEP_ALIVE_TIMEOUT,
    connectTimeout: DEFAULT_CONNECT_TIMEOUT,
    // Verification stays on unless the route's `tls.rejectUnauthorized: false` says otherwise (upstream-tls.ts).
    connect: { ...tls }
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

/** The undici/system error under any wrapper. */
function rootCause (err: ErrorLike): ErrorLike {
  let e = err
  for (let i = 0; i < 4 && e.cause !== undefined && e.cause !== null && typeof e.cause === 'object'; i++) e = e.cause as ErrorLike
  return e
}

/** Status, code and a reason for the log, from what undici reports. */
export function classifyUpstreamError (err: ErrorLike): { answer: GatewayAnswerConstructor, status: number, reason: string, cause: string | undefined } {
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
  return timedOut
    ? { answer: FJG_ERR_UPSTREAM_TIMEOUT, status: 504, reason, cause: code }
    : { answer: FJG_ERR_UPSTREAM_UNAVAILABLE, status: 502, reason, cause: code }
}

/**
 * The forwarder's `onError`: 502 when the upstream cannot be used, 504 when it is
 * too slow; Fastify's JSON error body with a stable code; one log line with
 * the reason. The client never sees the upstream's address or error text.
 */
export function upstreamErrorHandler (upstream: string, prefix: string): (reply: FastifyReply, ctx: { error: ErrorLike }) => void {
  return function onUpstreamError (reply, { error }) {
    if (rootCause(error).code === 'UND_ERR_ABORTED' && clientConnection(reply.request)?.destroyed !== false) {
      // Cancelled because the client left (proxy.ts): not an upstream
      // failure, and nobody to answer. Logged as nginx logs it, status 499.
      reply.log.info({ upstream: { url: upstream, route: prefix, status: 499 } }, 'upstream: request cancelled, the client closed the connection')
      return
    }
    const { answer, status, reason, cause } = classifyUpstreamError(error)
    reply.log.error({ upstream: { url: upstream, route: prefix, status, cause } }, `upstream: ${reason}`)
    sendAnswer(reply, answer)
  }
}

import { EventEmitter } from 'node:events'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Pool } from 'undici'
import { FJG_ERR_UPSTREAM_TIMEOUT, FJG_ERR_UPSTREAM_UNAVAILABLE, sendAnswer, type GatewayAnswer } from './errors.js'
import type { HttpRewrite } from './forward.js'
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

// A client that gives up (its own timeout, a closed tab, a load balancer's
// deadline) must take its upstream request with it, as nginx does
// (proxy_ignore_client_abort off). reply-from builds the undici request itself
// and gives it no signal, so the request ran on until the route timeout and
// held one of the pool's connections: 128 clients leaving a hanging endpoint
// blocked every route to that origin for up to 60 s (issue 7, found by
// test/faults.test.ts).
//
// The route's rewriteRequestHeaders puts the client's socket on the headers
// object under a symbol, and the pool turns it into the request's signal.
// reply-from copies the headers with Object.assign, which keeps symbol keys;
// undici reads header names with Object.keys, which skips them: never sent.
// The socket, not the IncomingMessage: a request's 'close' also comes when
// its body has been read (a POST), with the client still there. Over HTTP/2
// (`fastify: { http2: true }`) it is the request's own stream: a client
// cancels a stream, and `raw.socket` is a proxy that sends `once` to the
// stream but `removeListener` to the session's socket.
const kClientSocket = Symbol('fjg.clientSocket')

interface ClientConnection {
  readonly destroyed: boolean
  once (event: 'close', listener: () => void): unknown
  removeListener (event: 'close', listener: () => void): unknown
}

function clientConnection (request: FastifyRequest): ClientConnection | undefined {
  return (request.raw as { stream?: ClientConnection }).stream ?? request.raw.socket
}

/**
 * undici takes an EventEmitter that emits 'abort' as a signal (`aborted` is
 * read first). ~0.1 µs per request, where an AbortController (or Fastify's
 * request.signal) costs ~2.7 µs: this runs on every proxied request.
 */
class ClientGone extends EventEmitter {
  aborted = false
  readonly abort = (): void => {
    this.aborted = true
    this.emit('abort')
  }
}

/** Wraps reply-from's rewriteRequestHeaders: the upstream request is cancelled when the client's connection closes. */
export function cancelWithClient (rewrite: HttpRewrite): HttpRewrite {
  return function rewriteRequestHeaders (request: FastifyRequest, headers) {
    const out = rewrite(request, headers)
    ;(out as Record<symbol, unknown>)[kClientSocket] = clientConnection(request)
    return out
  }
}

/** A Pool whose requests are cancelled when their client's socket closes before the upstream answers (see kClientSocket). */
class UpstreamPool extends Pool {
  override request (opts: any, callback?: any): any {
    const socket: ClientConnection | undefined = opts?.headers?.[kClientSocket]
    if (socket == null || typeof callback !== 'function' || opts.signal != null) return super.request(opts, callback)
    const gone = new ClientGone()
    // Already gone: the client left while its key set was being fetched.
    if (socket.destroyed) gone.aborted = true
    else socket.once('close', gone.abort)
    opts.signal = gone
    // Once the upstream has answered, the listener goes (a keep-alive socket
    // serves many requests): a client leaving mid-body is Fastify's to handle,
    // it destroys the stream it was piping, and undici's request with it.
    return super.request(opts, (err: unknown, data: unknown) => {
      socket.removeListener('close', gone.abort)
      callback(err, data)
    })
  }
}

export function createUpstreamPool (origin: string, tls: ConnectTls = { rejectUnauthorized: true }): Pool {
  return new UpstreamPool(origin, {
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
    if (rootCause(error).code === 'UND_ERR_ABORTED' && clientConnection(reply.request)?.destroyed !== false) {
      // Cancelled because the client left (cancelWithClient): not an upstream
      // failure, and nobody to answer. Logged as nginx logs it, status 499.
      reply.log.info({ upstream: { url: upstream, route: prefix, status: 499 } }, 'upstream: request cancelled, the client closed the connection')
      return
    }
    const { answer, reason, cause } = classifyUpstreamError(error)
    reply.log.error({ upstream: { url: upstream, route: prefix, status: answer.statusCode, cause } }, `upstream: ${reason}`)
    sendAnswer(reply, answer)
  }
}

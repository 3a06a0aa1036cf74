import type { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Dispatcher } from 'undici'
import { errors as undiciErrors } from 'undici'
import type { HttpRewrite, QueryRewrite } from './forward.js'
import { selectionPath } from './paths.js'
import { kBufferedBody } from './upstream-group.js'

// The forwarder of every HTTP request (issue 11): from the route handler
// straight into undici's `dispatch` (no request rebuilding, no body stream
// wrappers), the upstream's answer written into the raw response once its
// headers arrive (`reply.hijack()` only then: until the upstream answers, a
// failure is an ordinary Fastify reply, the coded 502/504 JSON). What it keeps
// from @fastify/http-proxy + @fastify/reply-from, which forwarded before, is
// listed in the gateway README ("How requests are forwarded"): the upstream
// path (prefix → rewritePrefix), the Connection rule, Host, the route's header
// rewriter (claims, spoof stripping, X-Forwarded-*), hop-by-hop handling both
// ways, Location rewriting, cancellation with the client, the route timeout.
// The query goes upstream byte for byte (reply-from re-encoded it).

type OutgoingHeaders = Record<string, string | string[] | number | undefined>
type AnswerHeaders = Record<string, string | string[]>

/** The part of an undici dispatcher the forwarder uses (a Pool, an upstream group). */
export interface ForwardDispatcher {
  dispatch (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean
}

export interface ForwardOptions {
  /** The route's prefix as the router sees it (the context's `prefix`; '' at the root). */
  prefix: string
  /** What replaces the prefix upstream (as @fastify/http-proxy derives it: `rewritePrefix`, else the upstream URL's path). */
  rewritePrefix: string
  /** The Host header upstream: the first server's (a group gives each server its own). */
  host: string
  caseSensitive: boolean
  /** The request's dispatcher: the route's, or the one its claim chose. */
  dispatcher: (request: FastifyRequest) => ForwardDispatcher
  /** Claims, spoofed copies, hop-by-hop, X-Forwarded-* (forward.ts), preserveHost. */
  requestHeaders: HttpRewrite
  /** hideHeaders and Location rewriting (plugin.ts). */
  answerHeaders: (headers: AnswerHeaders, request: FastifyRequest) => AnswerHeaders
  /** Null: the query goes as it is. */
  query: QueryRewrite | null
  /** Milliseconds for the upstream's headers and between two body chunks. */
  timeout: number
  /** Before the upstream answered: the coded 502/504 (or the 499 log line). */
  onError: (reply: FastifyReply, ctx: { error: Error }) => void
}

/** @fastify/http-proxy's rule: `rewritePrefix`, else the upstream URL's path; no trailing `/` under a prefix without one. */
export function rewritePrefixOf (prefix: string, rewritePrefix: string | undefined, upstream: string): string {
  let p = rewritePrefix !== undefined && rewritePrefix.length > 0 ? rewritePrefix : new URL(upstream).pathname
  if (!prefix.endsWith('/') && p.endsWith('/')) p = p.slice(0, -1)
  return p
}

/**
 * How many characters of `path` the prefix spans: the router matched it
 * case-insensitively and, for a canonical path, on its decoded form; -1 when
 * it does not start the path on a segment boundary.
 */
export function rawPrefixLength (path: string, prefix: string, caseSensitive: boolean): number {
  const n = prefix.length
  if (n === 0) return 0
  if (path.length >= n && (path.length === n || path.charCodeAt(n) === 0x2f)) {
    const head = path.slice(0, n)
    if (head === prefix || (!caseSensitive && head.toLowerCase() === prefix.toLowerCase())) return n
  }
  if (path.indexOf('%') === -1) return -1
  // An escape within the prefix's span: compare decoded forms at each segment end.
  const want = selectionPath(prefix, caseSensitive)
  for (let i = 1; i <= path.length; i++) {
    if (i < path.length && path.charCodeAt(i) !== 0x2f) continue
    let have: string
    try {
      have = selectionPath(path.slice(0, i), caseSensitive)
    } catch {
      return -1
    }
    if (have === want) return i
    if (have.length > want.length) return -1
  }
  return -1
}

/**
 * Request headers never copied upstream: `connection` (the names it lists go
 * too, see below), what undici frames itself (`transfer-encoding`), `host`
 * (the route sets it), and the other hop-by-hop ones (forward.ts says why).
 */
const REQUEST_NOT_COPIED = new Set(['connection', 'transfer-encoding', 'host', 'keep-alive', 'proxy-connection', 'te', 'upgrade', 'expect'])

/**
 * The names a `Connection` header lists (RFC 9110 §7.6.1), null when it lists
 * none beyond the usual `keep-alive` / `close` (dropped anyway).
 */
function connectionListed (c: string | string[] | undefined): string[] | null {
  if (typeof c !== 'string') return null
  const usual = c.length <= 10 ? c.toLowerCase() : ''
  if (usual === 'keep-alive' || usual === 'close') return null
  let listed: string[] | null = null
  for (const part of c.split(',')) {
    const name = part.trim().toLowerCase()
    if (name.length > 0) (listed ??= []).push(name)
  }
  return listed
}

/**
 * The client's headers as the upstream gets them, before the route's rewriter:
 * one pass, no deletes (a deleted property turns the object into a slow
 * dictionary for undici and Node to walk). HTTP/2 pseudo-headers (`:path`...)
 * are not headers; a GET or HEAD body is read and dropped, so its length goes.
 */
function upstreamHeaders (inbound: FastifyRequest['headers'], host: string, bodiless: boolean): OutgoingHeaders {
  const listed = connectionListed(inbound.connection)
  const out: OutgoingHeaders = {}
  for (const name in inbound) {
    if (name.charCodeAt(0) === 0x3a || REQUEST_NOT_COPIED.has(name)) continue
    if (bodiless && name === 'content-length') continue
    if (listed !== null && listed.includes(name)) continue
    out[name] = inbound[name]
  }
  out.host = host
  return out
}

/** Hop-by-hop answer headers: never passed to the client (the server frames its own answer). */
const ANSWER_HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'http2-settings'])
/** undici's raw answer headers as an object: lower-case names, repeated ones as arrays, hop-by-hop and those Connection lists left out. */
function answerHeaders (raw: ReadonlyArray<Buffer | string> | null): AnswerHeaders {
  const out: AnswerHeaders = {}
  if (raw === null) return out
  let listed: string[] | null = null
  for (let i = 0; i < raw.length; i += 2) {
    const n = raw[i] as Buffer | string
    const name = (typeof n === 'string' ? n : n.toString('latin1')).toLowerCase()
    const v = raw[i + 1] as Buffer | string
    // As undici's parser (strict llhttp) read it: no byte outside HTAB, SP-~ and
    // obs-text, which is what Node's writeHead takes (test/forwarder.test.ts).
    const value = typeof v === 'string' ? v : v.toString('latin1')
    if (ANSWER_HOP_BY_HOP.has(name)) {
      if (name === 'connection') {
        const more = connectionListed(value)
        if (more !== null) (listed ??= []).push(...more)
      }
      continue
    }
    const prior = out[name]
    if (prior === undefined) out[name] = value
    else if (Array.isArray(prior)) prior.push(value)
    else out[name] = [prior, value]
  }
  if (listed !== null) for (const name of listed) delete out[name]
  return out
}

interface ClientConnection {
  readonly destroyed: boolean
}

/**
 * The client's connection, to ask whether it is gone already: the socket (a
 * request's own `destroyed` also says so once its body was read, the client
 * still there), or over HTTP/2 the request's stream (a client cancels a stream).
 */
export function clientConnection (request: FastifyRequest): ClientConnection | undefined {
  return (request.raw as { stream?: ClientConnection }).stream ?? request.raw.socket
}

/** One proxied request: undici's (legacy, unwrapped) handler interface, written straight into the response. */
class Exchange implements Dispatcher.DispatchHandler {
  private readonly request: FastifyRequest
  private readonly reply: FastifyReply
  private readonly opts: ForwardOptions
  private readonly conn: ClientConnection | undefined
  private abortUpstream: ((err: Error) => void) | null = null
  private resume: (() => void) | null = null
  private answered = false
  private done = false
  /** The answer announced trailers and can carry them. */
  private trailers = false

  constructor (request: FastifyRequest, reply: FastifyReply, opts: ForwardOptions) {
    this.request = request
    this.reply = reply
    this.opts = opts
    this.conn = clientConnection(request)
    // The response closes with its connection (HTTP/1.1) or stream (HTTP/2), and
    // after a complete answer too (done by then): a listener on the response,
    // not on the long-lived socket, which Node itself listens on per request.
    reply.raw.once('close', this.clientGone)
  }

  /** The client left before the exchange ended: the upstream request goes with it (nginx proxy_ignore_client_abort off). */
  private readonly clientGone = (): void => {
    if (this.done) return
    this.abortUpstream?.(new undiciErrors.RequestAbortedError())
  }

  private finish (): void {
    this.done = true
    if (this.resume !== null) this.reply.raw.removeListener('drain', this.resume)
  }

  onConnect (abort: (err?: Error) => void): void {
    this.abortUpstream = abort
    // Gone already (while its key set was fetched, or between two attempts of a group).
    if (this.conn?.destroyed === true) abort(new undiciErrors.RequestAbortedError())
  }

  onHeaders (statusCode: number, rawHeaders: Buffer[] | string[] | null, resume: () => void): boolean {
    const { request, reply } = this
    const res = reply.raw
    let headers = this.opts.answerHeaders(answerHeaders(rawHeaders), request)
    // Headers set by the route's hooks (rate limits...), unless the upstream set the same.
    const own = reply.getHeaders()
    for (const name in own) {
      const v = own[name]
      if (headers[name] === undefined && v !== undefined) headers[name] = typeof v === 'number' ? String(v) : v as string | string[]
    }
    const http1 = request.raw.httpVersionMajor === 1
    // Trailers pass on only where the answer to this client is chunked (HTTP/1.1,
    // no Content-Length, a body) or HTTP/2; elsewhere Node could not send them.
    if (headers.trailer !== undefined) {
      const chunked = request.raw.httpVersion === '1.1' && headers['content-length'] === undefined &&
        request.method !== 'HEAD' && statusCode !== 204 && statusCode !== 304
      if (http1 && !chunked) {
        headers = { ...headers }
        delete headers.trailer
      } else {
        this.trailers = true
      }
    }
    // An HTTP/1.1 connection whose request body is still coming cannot take another request.
    if (http1 && !request.raw.complete) headers = { ...headers, connection: 'close' }
    try {
      res.writeHead(statusCode, headers)
    } catch (err) {
      // A status or header Node refuses: the upstream's answer is not passed on.
      this.abortUpstream?.(err as Error)
      return false
    }
    this.answered = true
    reply.hijack()
    this.resume = resume
    res.on('drain', resume)
    return true
  }

  onData (chunk: Buffer): boolean {
    return this.reply.raw.write(chunk)
  }

  onComplete (trailers: ReadonlyArray<Buffer | string> | null): void {
    this.finish()
    const res = this.reply.raw
    if (this.trailers && trailers !== null && trailers.length > 0) {
      try {
        res.addTrailers(answerHeaders(trailers))
      } catch {
        // A trailer Node refuses (a name it forbids there): the body is complete without it.
      }
    }
    res.end()
  }

  onError (err: Error): void {
    this.finish()
    if (this.answered) {
      // Mid-answer: the client sees the answer cut, as with a proxy that loses its upstream.
      this.reply.raw.destroy()
      return
    }
    if (!this.reply.sent) this.opts.onError(this.reply, { error: err })
  }
}

/** The route handler: forwards the request as the route says. */
export function forwarder (opts: ForwardOptions): (request: FastifyRequest, reply: FastifyReply) => void {
  const { prefix, rewritePrefix, host, caseSensitive, requestHeaders, query, timeout } = opts
  return function forward (request, reply) {
    const url = request.url
    const q = url.indexOf('?')
    const path = q === -1 ? url : url.slice(0, q)
    const n = rawPrefixLength(path, prefix, caseSensitive)
    let dest = n === -1 ? path : rewritePrefix + path.slice(n)
    if (dest.length === 0) dest = '/'
    if (query !== null) {
      const qs = query(undefined, url, request)
      if (qs.length > 0) dest += '?' + qs
    } else if (q !== -1) {
      dest += url.slice(q)
    }

    const inbound = request.headers
    const method = request.method
    // A GET or HEAD body is read and dropped, as before: it means nothing to the upstream.
    const bodiless = method === 'GET' || method === 'HEAD'
    let headers = upstreamHeaders(inbound, host, bodiless)
    let body: Buffer | Readable | null = null
    if (!bodiless) {
      const buffered = (request as unknown as { [kBufferedBody]?: Buffer })[kBufferedBody]
      if (buffered !== undefined) {
        body = buffered
      } else {
        const length = inbound['content-length']
        if ((length !== undefined && length !== '0') || inbound['transfer-encoding'] !== undefined) body = request.raw as Readable
      }
    }
    headers = requestHeaders(request, headers)

    const exchange = new Exchange(request, reply, opts)
    opts.dispatcher(request).dispatch({
      path: dest,
      method: method as Dispatcher.HttpMethod,
      headers: headers as Record<string, string | string[]>,
      body,
      headersTimeout: timeout,
      bodyTimeout: timeout
    }, exchange)
  }
}

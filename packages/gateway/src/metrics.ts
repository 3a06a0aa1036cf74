import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { KeySourceStatus, RevocationStatus } from '@fastify-jwt-gateway/jwt-auth'

// Prometheus metrics (nginx: stub_status / the VTS module; Envoy: /stats/prometheus).
// One Registry per gateway instance, so two gateways in one process (tests, a
// reload) never share counters; a reload starts the counters again, which
// Prometheus' rate() reads as a restart. Label values are bounded: routes are
// the route's prefix (from Fastify's route table, never the raw path), methods
// outside the known set are OTHER, reasons are our own FJG_ERR_* codes.

/** Seconds: from a cached key check (~µs) to an upstream at its default timeout. */
export const DURATION_BUCKETS = Object.freeze([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60])
const METHODS = new Set(['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT', 'OPTIONS'])
/** Route label of a request no route took (404 before routing, a bad request target). */
const NO_ROUTE = 'none'
const CODE = /"code":"(FJG_ERR_[A-Z0-9_]{1,64})"/

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway's metrics and the functions that update them; null with `server.metricsPath: false`. */
    gatewayMetrics: GatewayMetrics | null
  }
}

/** What other parts of the gateway update (the forwarder, revocation lists); reachable as `fastify.gatewayMetrics`. */
export interface GatewayMetrics {
  readonly registry: Registry
  /** Passive health of one upstream server of a route. */
  upstreamUp (route: string, upstream: string, up: boolean): void
  /** The Prometheus text of this instance (or, in a cluster worker, of every worker). */
  scrape (): Promise<string>
}

export interface MetricsOptions {
  path: string
  /** Every key source of every route, read at scrape time. */
  keyStatus: () => KeySourceStatus[]
  /** Every revocation file and Redis store, read at scrape time (fjg_revocation_entries). */
  revocationStatus?: () => RevocationStatus[]
  /** The upstream of each route prefix, for upstream error labels. */
  upstreams: ReadonlyMap<string, string>
  /** In a cluster worker: the text of every worker's registry (the preset asks its primary). */
  aggregate?: (registry: Registry) => Promise<string>
}

/** `/api/*` → `/api`, `/*` → `/`: the prefix the route was registered for. */
function routeLabel (request: FastifyRequest): string {
  const url = request.routeOptions.url
  if (url === undefined) return NO_ROUTE
  const prefix = url.endsWith('/*') ? url.slice(0, -2) : url
  return prefix === '' ? '/' : prefix
}

function keySourceMetrics (registry: Registry, keyStatus: () => KeySourceStatus[]): void {
  // Fetch results come from each source's fetch count and last error, read at
  // scrape time (remote-source.ts has no event for them): fetches made between
  // two scrapes are all counted under the result of the latest.
  const seen = new Map<string, number>()
  // eslint-disable-next-line no-new
  new Counter({
    name: 'fjg_key_source_fetches_total',
    help: 'Fetches of remote key sources, by result',
    labelNames: ['source', 'result'],
    registers: [registry],
    collect () {
      for (const s of keyStatus()) {
        if (s.kind === undefined) continue
        const delta = s.fetches - (seen.get(s.source) ?? 0)
        seen.set(s.source, s.fetches)
        this.inc({ source: s.source, result: s.lastError === null ? 'success' : 'failure' }, delta)
      }
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'fjg_key_source_usable',
    help: '1 when the key source has usable keys (local sources always), 0 when not (never loaded, or past maxStale)',
    labelNames: ['source'],
    registers: [registry],
    aggregator: 'min',
    collect () {
      for (const s of keyStatus()) this.set({ source: s.source }, s.usable === false ? 0 : 1)
    }
  })
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'fjg_key_source_keys',
    help: 'Keys currently loaded from the key source',
    labelNames: ['source'],
    registers: [registry],
    aggregator: 'max',
    collect () {
      for (const s of keyStatus()) this.set({ source: s.source }, s.kids.length)
    }
  })
}

/** Registers the metrics route and the hooks that count every request; decorates `fastify.gatewayMetrics`. */
export function registerMetrics (fastify: FastifyInstance, opts: MetricsOptions): GatewayMetrics {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // Counted per request in plain cells and handed to prom-client when scraped:
  // its inc() validates and hashes the labels on every call (about 1 µs).
  const answered = new Map<string, { labels: { route: string, method: string, status: number }, n: number }>()
  // eslint-disable-next-line no-new
  new Counter({
    name: 'fjg_requests_total',
    help: 'Requests answered, by route prefix, method and status',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
    collect () {
      this.reset()
      for (const cell of answered.values()) this.inc(cell.labels, cell.n)
    }
  })
  const duration = new Histogram({ name: 'fjg_request_duration_seconds', help: 'Time to answer a request, by route prefix', labelNames: ['route'], buckets: [...DURATION_BUCKETS], registers: [registry] })
  const denied = new Counter({ name: 'fjg_jwt_denied_total', help: 'Requests refused by the jwt policy, by route prefix and FJG_ERR_* reason', labelNames: ['route', 'reason'], registers: [registry] })
  const upstreamErrors = new Counter({ name: 'fjg_upstream_errors_total', help: 'Upstream requests that failed, by route prefix, upstream and kind', labelNames: ['route', 'upstream', 'kind'], registers: [registry] })
  const upstreamUp = new Gauge({ name: 'fjg_upstream_up', help: '1 when the upstream server is considered up, 0 when marked down', labelNames: ['route', 'upstream'], registers: [registry], aggregator: 'min' })
  const revocationStatus = opts.revocationStatus ?? (() => [])
  // Read at scrape time, as the key sources: a file reloaded or a Redis revoke
  // between two scrapes shows in the next one. `list` is the kind (sub, kid,
  // jti), `source` the file path or the Redis URL without its password.
  // eslint-disable-next-line no-new
  new Gauge({
    name: 'fjg_revocation_entries',
    help: 'Entries of a revocation list, by kind (sub, kid, jti) and source (file or Redis)',
    labelNames: ['list', 'source'],
    registers: [registry],
    aggregator: 'max',
    collect () {
      this.reset()
      for (const s of revocationStatus()) {
        for (const [list, n] of Object.entries(s.entries)) this.set({ list, source: s.source }, n ?? 0)
      }
    }
  })
  keySourceMetrics(registry, opts.keyStatus)

  const metrics: GatewayMetrics = {
    registry,
    upstreamUp: (route, upstream, up) => upstreamUp.set({ route, upstream }, up ? 1 : 0),
    scrape: () => opts.aggregate === undefined ? registry.metrics() : opts.aggregate(registry)
  }

  // Our own error answers (a jwt denial, an upstream failure) are JSON strings
  // with a stable code by the time onSend sees them; proxied answers are
  // streams and are never read. Only 401/403/502/503/504 are looked at.
  fastify.addHook('onSend', function countAnswer (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: (err: null, payload: unknown) => void) {
    const status = reply.statusCode
    if (typeof payload === 'string' && (status === 401 || status === 403 || status >= 502)) {
      const code = CODE.exec(payload)?.[1]
      if (code !== undefined) {
        const route = routeLabel(request)
        if (status === 401 || status === 403 || code === 'FJG_ERR_TOKEN_KEYS_UNAVAILABLE') denied.inc({ route, reason: code })
        else if (code.startsWith('FJG_ERR_UPSTREAM_')) upstreamErrors.inc({ route, upstream: opts.upstreams.get(route) ?? 'unknown', kind: code.slice(17).toLowerCase() })
      }
    }
    done(null, payload)
  })
  fastify.addHook('onResponse', function countRequest (request: FastifyRequest, reply: FastifyReply, done: () => void) {
    const route = routeLabel(request)
    const method = METHODS.has(request.method) ? request.method : 'OTHER'
    const status = reply.statusCode
    const key = `${route} ${method} ${status}`
    const cell = answered.get(key)
    if (cell !== undefined) cell.n++
    else answered.set(key, { labels: { route, method, status }, n: 1 })
    duration.observe({ route }, reply.elapsedTime / 1000)
    done()
  })

  fastify.get(opts.path, async function metricsRoute (_request, reply) {
    const text = await metrics.scrape()
    return reply.type(registry.contentType).send(text)
  })
  return metrics
}

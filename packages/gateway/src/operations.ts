import type { FastifyInstance } from 'fastify'
import type { KeySourceStatus } from '@fastify-jwt-gateway/jwt-auth'
import { registerMetrics, type GatewayMetrics } from './metrics.js'
import { registerReady } from './ready.js'
import { DEFAULT_METRICS_PATH, DEFAULT_READY_PATH, normalizePrefix } from './schema.js'
import type { GatewayPluginOptions } from './types.js'
import { upstreamServers } from './upstream-group.js'

/** The operator's routes next to healthPath: readiness, and Prometheus metrics unless `metricsPath: false`. */
export function registerOperations (fastify: FastifyInstance, opts: GatewayPluginOptions, keyStatus: () => KeySourceStatus[]): void {
  const server = opts.server ?? {}
  registerReady(fastify, { path: server.readyPath ?? DEFAULT_READY_PATH, keyStatus })
  let metrics: GatewayMetrics | null = null
  if (server.metricsPath !== false) {
    const upstreams = new Map<string, string>()
    for (const r of opts.routes) {
      const prefix = normalizePrefix(r.prefix)
      // The label names the upstream's origin, never its path or credentials.
      if (!upstreams.has(prefix)) upstreams.set(prefix, upstreamServers(r.upstream).map((u) => new URL(u.url).origin).join(','))
    }
    metrics = registerMetrics(fastify, {
      path: server.metricsPath ?? DEFAULT_METRICS_PATH,
      keyStatus,
      revocationStatus: () => fastify.jwtAuth?.revocationStatus() ?? [],
      upstreams,
      ...(opts.aggregateMetrics === undefined ? {} : { aggregate: opts.aggregateMetrics })
    })
  }
  if (!fastify.hasDecorator('gatewayMetrics')) fastify.decorate('gatewayMetrics', metrics)
}

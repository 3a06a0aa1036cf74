import type { FastifyInstance } from 'fastify'
import type { KeySourceStatus } from '@fastify-jwt-gateway/jwt-auth'

// Readiness, apart from liveness (healthPath): a load balancer or Kubernetes
// readinessProbe stops sending traffic to a gateway that would refuse every
// token because a key set cannot be used, and the process is not restarted
// for it (the key endpoint is at fault, not the gateway).

/** Seconds a prober is told to wait before asking again when not ready. */
export const READY_RETRY_AFTER = 5

export interface ReadyOptions {
  path: string
  keyStatus: () => KeySourceStatus[]
}

/** 200 `{ status: 'ready' }` when every key source is usable; 503 naming the ones that are not, and why. */
export function registerReady (fastify: FastifyInstance, opts: ReadyOptions): void {
  fastify.get(opts.path, function ready (_request, reply) {
    const unusable: Array<{ source: string, reason: string }> = []
    let sources = 0
    for (const s of opts.keyStatus()) {
      sources++
      if (s.usable !== false) continue
      // Never loaded: the first fetch failed (lastError) or is still running.
      const reason = s.lastFetch === null
        ? (s.lastError ?? 'not loaded yet')
        : `the key set is older than maxStale${s.lastError === null ? '' : `; last error: ${s.lastError}`}`
      unusable.push({ source: s.source, reason })
    }
    if (unusable.length === 0) return reply.send({ status: 'ready', keySources: sources })
    return reply.code(503).header('retry-after', String(READY_RETRY_AFTER)).send({ status: 'unavailable', keySources: sources, unusable })
  })
}

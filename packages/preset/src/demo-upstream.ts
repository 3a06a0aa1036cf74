import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify'

// The "leads / employees" API of the examples and the demo: the upstream the
// gateway protects. It does no authentication of its own; it trusts the gateway
// and echoes the identity headers it received so a demo shows what arrived.

export interface DemoUpstreamOptions {
  /** Fastify logger option; default off (the gateway logs the traffic). */
  logger?: FastifyServerOptions['logger']
  /** Name shown in answers, to tell several upstreams apart. Default `leads-employees`. */
  name?: string
}

export const DEMO_LEADS = Object.freeze([
  { id: 1, name: 'Ada Lovelace', company: 'Analytical Engines Ltd', stage: 'qualified' },
  { id: 2, name: 'Grace Hopper', company: 'COBOL Consulting', stage: 'new' },
  { id: 3, name: 'Alan Turing', company: 'Bletchley Data', stage: 'won' }
])

export const DEMO_EMPLOYEES = Object.freeze([
  { id: 1, name: 'Margaret Hamilton', role: 'engineering' },
  { id: 2, name: 'Katherine Johnson', role: 'analytics' },
  { id: 3, name: 'Radia Perlman', role: 'networking' }
])

// Headers the gateway may forward from the token. Anything else starting with
// `x-` is echoed too, except the proxy's own x-forwarded-*; `authorization` is
// never echoed (it carries the token), only whether one arrived.
function identity (request: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(request.headers)) {
    if (!name.startsWith('x-') || name.startsWith('x-forwarded-') || value === undefined) continue
    out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

/** The demo upstream: public `GET /`, `GET /about`; `GET /api/leads`, `GET /api/employees` for the gateway to protect. */
export function createDemoUpstream (opts: DemoUpstreamOptions = {}): FastifyInstance {
  const name = opts.name ?? 'leads-employees'
  const app = Fastify({ logger: opts.logger ?? false })

  app.get('/', async () => ({
    service: name,
    message: 'Public home page: no token needed.',
    endpoints: ['GET /about', 'GET /api/leads', 'GET /api/employees']
  }))
  app.get('/about', async () => ({
    service: name,
    message: 'A small leads / employees API. The gateway in front of it checks tokens on /api/*.'
  }))
  app.get('/api/leads', async (request) => ({
    service: name,
    leads: DEMO_LEADS,
    identity: identity(request),
    authorizationReceived: request.headers.authorization !== undefined
  }))
  app.get('/api/employees', async (request) => ({
    service: name,
    employees: DEMO_EMPLOYEES,
    identity: identity(request),
    authorizationReceived: request.headers.authorization !== undefined
  }))
  return app
}

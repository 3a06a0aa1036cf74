// One benchmark server per process. run.mjs forks this file, sends
// { cmd: 'start', spec } over IPC, and gets { ready, port } back once the
// server listens on 127.0.0.1 (port 0: the OS picks). { cmd: 'stop' } closes
// it and exits normally, so `--cpu-prof` can write its profile.
//
// spec.kind:
//   origin                the upstream: a minimal Fastify app
//   gateway               buildGateway(config) from @fastify-jwt-gateway/gateway
//   http-proxy            Fastify + @fastify/http-proxy, defaults, no auth
//   fastify-jwt-proxy     the same, the route protected by @fastify/jwt (onRequest jwtVerify)
//   embedded              our plugin in a plain Fastify app, no proxy
//   embedded-fastify-jwt  @fastify/jwt in the same plain app
//   dispatch-proxy        bare node:http + undici Pool.dispatch, raw header arrays,
//                         body written straight to the response: the Node floor (issue 11)
//   dispatch-verify       the same, each request's ES256 token checked first with one bare
//                         crypto.verify (signing input, signature; no parsing, no policy):
//                         what a cache miss must add at least, measured as the gateway is
//   gateway-verify        the gateway, jwt: false, with the same bare crypto.verify before
//                         each request reaches it: what a cache miss must add at least, in the gateway

import Fastify from 'fastify'

// The same small JSON everywhere (lib/load.mjs checks it): what the proxies add is the difference.
const BODY = { hello: 'world' }
const PREFIX = '/api'

function helloRoutes (app) {
  app.get(`${PREFIX}/*`, (_request, reply) => { reply.send(BODY) })
}

async function fastifyJwtPlugin (app, spec) {
  const { default: fastifyJwt } = await import('@fastify/jwt')
  await app.register(fastifyJwt, {
    // Asymmetric keys: verify-only, the public key (no private key needed).
    secret: spec.alg === 'HS256' ? spec.verifyKey : { public: spec.verifyKey },
    // No `verify` option unless asked: @fastify/jwt's defaults, as most users run it.
    ...(spec.cache ? { verify: { cache: true } } : {})
  })
}

// The hook from @fastify/jwt's README.
async function fastifyJwtHook (request, reply) {
  try {
    await request.jwtVerify()
  } catch (err) {
    reply.send(err)
  }
}

// Hop-by-hop (RFC 9110 §7.6.1) and what the proxy sets itself.
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host', 'expect'])

/**
 * One bare ES256 check of the request's bearer token: its signing input and
 * signature, no parsing, no policy (the floor of a cache miss). Null: no key.
 */
async function bareCheck (spec) {
  if (spec.verifyKey === undefined) return null
  const { createPublicKey, verify } = await import('node:crypto')
  const key = { key: createPublicKey(spec.verifyKey), dsaEncoding: 'ieee-p1363' }
  return (auth = '') => {
    const dot = auth.lastIndexOf('.')
    return dot !== -1 && verify('sha256', Buffer.from(auth.slice(7, dot)), key, Buffer.from(auth.slice(dot + 1), 'base64url'))
  }
}

/** The leanest proxy we can write on Node: what the gateway's forwarding is measured against. */
async function dispatchProxy (spec) {
  const { createServer } = await import('node:http')
  const { Pool } = await import('undici')
  const origin = new URL(spec.upstream).origin
  const pool = new Pool(origin, { connections: 128, pipelining: 1 })
  const check = await bareCheck(spec)
  const server = createServer((req, res) => {
    if (check !== null && !check(req.headers.authorization)) {
      res.writeHead(401).end()
      return
    }
    const inbound = req.rawHeaders
    const headers = []
    for (let i = 0; i < inbound.length; i += 2) {
      if (!HOP.has(inbound[i].toLowerCase())) headers.push(inbound[i], inbound[i + 1])
    }
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
    // A client gone before the answer cancels the upstream request: paused on
    // a response nobody drains, it would hold its upstream connection for good
    // (after a few load runs that closed connections mid-request, every one).
    let done = false
    let cancel = null
    res.on('close', () => { if (!done && cancel !== null) cancel() })
    pool.dispatch({ origin, path: req.url, method: req.method, headers, body: hasBody ? req : null }, {
      onConnect (abort) { cancel = abort },
      onHeaders (status, raw, resume) {
        const out = []
        for (let i = 0; i < raw.length; i += 2) {
          const k = raw[i].toString('latin1')
          if (!HOP.has(k.toLowerCase())) out.push(k, raw[i + 1].toString('latin1'))
        }
        res.writeHead(status, out)
        res.on('drain', resume)
        return true
      },
      onData (chunk) { return res.write(chunk) },
      onComplete () {
        done = true
        res.end()
      },
      onError () {
        done = true
        if (!res.headersSent) res.writeHead(502)
        res.end()
      }
    })
  })
  return {
    server,
    listen ({ host, port }) { return new Promise((resolve) => server.listen(port, host, resolve)) },
    async close () {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await pool.close()
    }
  }
}

const builders = {
  'dispatch-proxy': dispatchProxy,
  'dispatch-verify': dispatchProxy,

  async origin () {
    const app = Fastify({ logger: false })
    helloRoutes(app)
    return app
  },

  async gateway (spec) {
    const { buildGateway } = await import('@fastify-jwt-gateway/gateway')
    if (typeof buildGateway !== 'function') throw new Error('@fastify-jwt-gateway/gateway does not export buildGateway (is its dist built?)')
    const config = {
      server: { logLevel: 'silent' },
      jwt: spec.jwt,
      routes: [{ prefix: PREFIX, upstream: spec.upstream, rewritePrefix: PREFIX }]
    }
    // Either an instance or a promise of one.
    const app = await buildGateway(config, { logger: false, ...spec.options })
    const check = await bareCheck(spec)
    if (check !== null) {
      // gateway-verify: the check in front of Fastify's own request listener
      // (the instance is ready: no hook can be added any more).
      const [handle] = app.server.listeners('request')
      app.server.removeAllListeners('request')
      app.server.on('request', (req, res) => {
        if (check(req.headers.authorization)) return handle(req, res)
        res.writeHead(401).end()
      })
    }
    return app
  },

  async 'http-proxy' (spec) {
    const { default: proxy } = await import('@fastify/http-proxy')
    const app = Fastify({ logger: false })
    await app.register(proxy, { upstream: spec.upstream, prefix: PREFIX, rewritePrefix: PREFIX })
    return app
  },

  async 'fastify-jwt-proxy' (spec) {
    const { default: proxy } = await import('@fastify/http-proxy')
    const app = Fastify({ logger: false })
    await fastifyJwtPlugin(app, spec)
    await app.register(async (scope) => {
      scope.addHook('onRequest', fastifyJwtHook)
      await scope.register(proxy, { upstream: spec.upstream, prefix: PREFIX, rewritePrefix: PREFIX })
    })
    return app
  },

  async embedded (spec) {
    const { jwtAuth } = await import('@fastify-jwt-gateway/jwt-auth')
    const app = Fastify({ logger: false })
    await app.register(jwtAuth, spec.policy)
    helloRoutes(app)
    return app
  },

  async 'embedded-fastify-jwt' (spec) {
    const app = Fastify({ logger: false })
    await fastifyJwtPlugin(app, spec)
    app.addHook('onRequest', fastifyJwtHook)
    helloRoutes(app)
    return app
  }
}

let app = null

async function start (spec) {
  const build = builders[spec.kind]
  if (build === undefined) throw new Error(`unknown server kind ${spec.kind}`)
  app = await build(spec)
  await app.listen({ host: '127.0.0.1', port: 0 })
  return app.server.address().port
}

async function stopAndExit (code) {
  try {
    if (app !== null) await app.close()
  } finally {
    process.exit(code)
  }
}

process.on('message', (m) => {
  if (m?.cmd === 'start') {
    start(m.spec).then(
      (port) => process.send({ ready: true, port }),
      (err) => process.send({ error: err?.stack ?? String(err) }, () => process.exit(1))
    )
  } else if (m?.cmd === 'stop') {
    stopAndExit(0)
  } else if (m?.cmd === 'rss') {
    // A full collection first where allowed (--expose-gc): what stays is what the server keeps.
    if (typeof globalThis.gc === 'function') globalThis.gc()
    const { rss, heapUsed, heapTotal, external, arrayBuffers } = process.memoryUsage()
    process.send({ answer: 'rss', value: { rss, heapUsed, heapTotal, external, arrayBuffers } })
  }
})

// The parent is gone (killed, crashed): never outlive it.
process.on('disconnect', () => stopAndExit(0))
process.on('SIGTERM', () => stopAndExit(0))

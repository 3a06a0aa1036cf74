import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { createServer as createTlsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import t from 'tap'
import { collect, echoUpstream, freePort, request, startGateway } from './helpers/servers.js'

// Upstream failures and the connection pool, against real sockets.

t.test('connection refused: 502 with the JSON error body, and the reason logged', async (t) => {
  const lines: any[] = []
  const port = await freePort()
  const { url } = await startGateway(t, { routes: [{ prefix: '/', upstream: `http://127.0.0.1:${port}` }] }, { logger: collect(lines) })
  const res = await request(`${url}/x`)
  t.equal(res.status, 502)
  t.same(res.body, { statusCode: 502, error: 'Bad Gateway', code: 'FJG_ERR_UPSTREAM_UNAVAILABLE', message: 'The upstream server is unavailable' })
  t.notMatch(JSON.stringify(res.body), String(port), 'the client is not told the upstream\'s address')
  const line = lines.find((l) => l.upstream !== undefined)
  t.equal(line?.msg, 'upstream: connection refused')
  t.same(line?.upstream, { url: `http://127.0.0.1:${port}`, route: '/', status: 502, cause: 'ECONNREFUSED' })
  t.equal(lines.filter((l) => l.level >= 50).length, 1, 'one error line, not a second one from Fastify\'s error handler')
})

t.test('an upstream that never answers: 504 after the route\'s timeout', async (t) => {
  const lines: any[] = []
  const hang = createServer(() => {})
  hang.listen(0, '127.0.0.1')
  await once(hang, 'listening')
  t.teardown(() => { hang.closeAllConnections(); hang.close() })
  const upstream = `http://127.0.0.1:${(hang.address() as AddressInfo).port}`
  const { url } = await startGateway(t, { routes: [{ prefix: '/', upstream, timeout: 150 }] }, { logger: collect(lines) })
  const started = Date.now()
  const res = await request(`${url}/slow`)
  const took = Date.now() - started
  t.equal(res.status, 504)
  t.same(res.body, { statusCode: 504, error: 'Gateway Timeout', code: 'FJG_ERR_UPSTREAM_TIMEOUT', message: 'The upstream server did not answer in time' })
  // undici checks its timers about every 500 ms: the answer comes within a second of the timeout.
  t.ok(took >= 140 && took < 2500, `answered after the timeout (${took} ms)`)
  const line = lines.find((l) => l.upstream !== undefined)
  t.equal(line?.msg, 'upstream: no response headers within the timeout')
  t.equal(line?.upstream.status, 504)
})

function hasOpenssl (): boolean {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

t.test('upstream TLS certificates are verified: a self-signed upstream is refused with 502', {
  skip: hasOpenssl() ? false : 'openssl is not available to make a certificate'
}, async (t) => {
  const dir = t.testdir({})
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1',
    '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' })
  const key = readFileSync(join(dir, 'key.pem'))
  const cert = readFileSync(join(dir, 'cert.pem'))
  const tls = createTlsServer({ key, cert }, (_req, res) => res.end('secret'))
  tls.listen(0, '127.0.0.1')
  await once(tls, 'listening')
  t.teardown(() => { tls.closeAllConnections(); tls.close() })
  const lines: any[] = []
  const { url } = await startGateway(t, {
    routes: [{ prefix: '/', upstream: `https://127.0.0.1:${(tls.address() as AddressInfo).port}` }]
  }, { logger: collect(lines) })
  const res = await request(`${url}/x`)
  t.equal(res.status, 502)
  t.equal(res.body.code, 'FJG_ERR_UPSTREAM_UNAVAILABLE')
  const line = lines.find((l) => l.upstream !== undefined)
  t.match(line?.msg, /^upstream: TLS: /)
  t.match(line?.upstream.cause, /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/)
})

t.test('connections to the upstream are kept alive and reused', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, { routes: [{ prefix: '/', upstream: up.url }] })
  const first = await request(`${url}/1`)
  const second = await request(`${url}/2`)
  t.equal(first.status, 200)
  t.equal(second.body.port, first.body.port, 'the second request came over the same socket')
  t.notOk(/close/i.test(second.body.headers.connection ?? ''), 'no Connection: close to the upstream')
})

t.test('an upstream 503 is passed on once, not retried', async (t) => {
  let hits = 0
  const busy = createServer((_req, res) => { hits++; res.writeHead(503, { 'content-type': 'text/plain' }).end('busy') })
  busy.listen(0, '127.0.0.1')
  await once(busy, 'listening')
  t.teardown(() => { busy.closeAllConnections(); busy.close() })
  const { url } = await startGateway(t, { routes: [{ prefix: '/', upstream: `http://127.0.0.1:${(busy.address() as AddressInfo).port}` }] })
  const res = await request(`${url}/x`)
  t.equal(res.status, 503)
  t.equal(res.body, 'busy')
  t.equal(hits, 1)
})

t.test('an upstream with a base path: the prefix is replaced by it', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, { routes: [{ prefix: '/svc', upstream: `${up.url}/v1` }] })
  t.equal((await request(`${url}/svc/items?a=1`)).body.url, '/v1/items?a=1')
})

t.test('hop-by-hop headers stay at the gateway (a client\'s Keep-Alive or Expect is not a 502)', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, { routes: [{ prefix: '/', upstream: up.url }] })
  const res = await request(`${url}/x`, { headers: { 'keep-alive': 'timeout=5', 'proxy-connection': 'keep-alive', te: 'trailers', 'x-kept': '1' } })
  t.equal(res.status, 200)
  for (const name of ['keep-alive', 'proxy-connection', 'te']) t.notOk(name in res.body.headers, name)
  t.equal(res.body.headers['x-kept'], '1')

  // curl sends Expect: 100-continue with a body over 1 KiB.
  const { request: httpRequest } = await import('node:http')
  const body = Buffer.alloc(4096, 'a')
  const answer = await new Promise<{ status: number, seen: any }>((resolve, reject) => {
    const req = httpRequest(`${url}/upload`, { method: 'POST', agent: false, headers: { expect: '100-continue', 'content-type': 'application/octet-stream', 'content-length': String(body.length) } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode as number, seen: JSON.parse(Buffer.concat(chunks).toString()) }))
    })
    req.on('continue', () => req.end(body))
    req.on('error', reject)
  })
  t.equal(answer.status, 200)
  t.equal(answer.seen.method, 'POST')
  t.equal(answer.seen.headers['content-length'], '4096')
  t.notOk('expect' in answer.seen.headers)
})

// The preset's edge TLS: server.tls files relative to the config folder,
// HTTP/2 with HTTP/1.1 by ALPN, the 308 redirect listener, certificate
// rotation with reloadTls, and `check` on a bad pair or a certificate about
// to expire. A private CA made per run by openssl; a real upstream.
import { copyFileSync, mkdirSync } from 'node:fs'
import http2 from 'node:http2'
import { createServer, request as httpRequest } from 'node:http'
import { Agent, request as httpsRequest } from 'node:https'
import { join } from 'node:path'
import type { TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import { check, loadConfig, reloadTls, start, type RunningGateway } from '../src/index.js'
import { makePki, type Issued } from '../../jwt-auth/test/helpers/pki.js'
import { echoUpstream } from '../../gateway/test/helpers/servers.js'
import { startCli } from './helpers/cli.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'

const pki = makePki(t)

interface Got { status: number, headers: Record<string, any>, body: any, serial: string, alpn: string | false }

function get (url: string, opts: { agent?: Agent, headers?: Record<string, string> } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: pki.ca.cert, agent: opts.agent ?? false, headers: opts.headers ?? {} }, (res) => {
      const socket = res.socket as TLSSocket
      const serial = socket.getPeerCertificate().serialNumber
      const alpn = socket.alpnProtocol ?? false
      let text = ''
      res.on('data', (c) => { text += String(c) })
      res.on('end', () => {
        let body: unknown = text
        try { body = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode as number, headers: res.headers, body, serial, alpn })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

/** The config folder with the server certificate copied under tls/ (paths in the config are relative). */
function configDir (t: Test, cert: Issued, extra: Record<string, unknown> = {}, up = 'http://127.0.0.1:9'): string {
  const dir = tempDir(t)
  mkdirSync(join(dir, 'tls'))
  copyFileSync(cert.certFile, join(dir, 'tls', 'server.crt'))
  copyFileSync(cert.keyFile, join(dir, 'tls', 'server.key'))
  writeJson(join(dir, 'gateway.json'), {
    server: { host: '127.0.0.1', port: 0, logLevel: 'silent', tls: { cert: 'tls/server.crt', key: 'tls/server.key' }, ...extra },
    routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api', jwt: false }]
  })
  return dir
}

async function run (t: Test, dir: string): Promise<RunningGateway> {
  const running = await start({ config: join(dir, 'gateway.json') })
  t.teardown(() => running.close())
  return running
}

t.test('start: HTTPS and HTTP/2 from server.tls, and the 308 redirect listener', async (t) => {
  const up = await upstream(t)
  const cert = pki.server('gw-start')
  const running = await run(t, configDir(t, cert, { http2: true, redirectHttp: { port: 0 } }, up))
  t.match(running.url, /^https:\/\/127\.0\.0\.1:\d+$/)

  const h1 = await get(`${running.url}/api/a`)
  t.equal(h1.status, 200)
  t.equal(h1.serial, cert.serial)
  t.equal(h1.body.headers['x-forwarded-proto'], 'https')

  const session = http2.connect(running.url, { ca: pki.ca.cert })
  t.teardown(() => session.close())
  const stream = session.request({ ':path': '/api/b' })
  let text = ''
  stream.on('data', (c) => { text += String(c) })
  const status = await new Promise((resolve) => stream.on('response', (h) => resolve(h[':status'])))
  await new Promise((resolve) => stream.on('end', resolve))
  t.equal(session.alpnProtocol, 'h2')
  t.equal(status, 200)
  t.equal(JSON.parse(text).headers['x-forwarded-proto'], 'https')

  t.type(running.redirectPort, 'number')
  const redirect = await new Promise<{ status: number, location: string | undefined }>((resolve, reject) => {
    httpRequest(`http://127.0.0.1:${running.redirectPort as number}/api/x?y=1`, { method: 'POST', agent: false }, (res) => {
      res.resume()
      resolve({ status: res.statusCode as number, location: res.headers.location })
    }).on('error', reject).end('body')
  })
  t.strictSame(redirect, { status: 308, location: `https://127.0.0.1:${running.port}/api/x?y=1` })
  const badHost = await new Promise<number>((resolve, reject) => {
    httpRequest(`http://127.0.0.1:${running.redirectPort as number}/`, { agent: false, headers: { host: 'evil.example/@x' } }, (res) => {
      res.resume()
      resolve(res.statusCode as number)
    }).on('error', reject).end()
  })
  t.equal(badHost, 400, 'a Host that is not a host name is not put in a Location')
})

t.test('reloadTls: new handshakes get the new certificate, open connections and requests in flight keep theirs; a bad pair keeps the old', async (t) => {
  const up = await upstream(t)
  const first = pki.server('gw-first')
  const second = pki.server('gw-second')
  const dir = configDir(t, first, {}, up)
  const running = await run(t, dir)
  const { config, baseDir } = loadConfig(join(dir, 'gateway.json'))
  const tls = config.server?.tls as NonNullable<NonNullable<typeof config.server>['tls']>
  const lines: Array<{ level: string, msg: string }> = []
  const log = {
    info: (_o: unknown, msg?: string) => { lines.push({ level: 'info', msg: msg ?? String(_o) }) },
    warn: (o: unknown, msg?: string) => { lines.push({ level: 'warn', msg: msg ?? String(o) }) },
    error: (_o: unknown, msg?: string) => { lines.push({ level: 'error', msg: msg ?? String(_o) }) }
  } as any

  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => keepAlive.destroy())
  t.equal((await get(`${running.url}/api/a`, { agent: keepAlive })).serial, first.serial, 'an open keep-alive connection')
  const inFlight = get(`${running.url}/api/slow?ms=400`)
  await new Promise((resolve) => setTimeout(resolve, 100))

  copyFileSync(second.certFile, join(dir, 'tls', 'server.crt'))
  copyFileSync(second.keyFile, join(dir, 'tls', 'server.key'))
  t.equal(reloadTls(running.server as any, tls, baseDir, log), true)
  t.match(lines.at(-1), { level: 'info', msg: 'tls: certificate reloaded, new connections use it' })

  const slow = await inFlight
  t.equal(slow.status, 200, 'the request in flight finishes')
  t.strictSame(slow.body, { slow: true, ms: 400 })
  t.equal(slow.serial, first.serial)
  t.equal((await get(`${running.url}/api/a`)).serial, second.serial, 'a new handshake sees the new serial')
  t.equal((await get(`${running.url}/api/a`, { agent: keepAlive })).serial, first.serial, 'the open connection keeps its certificate')

  // A certificate with another certificate's key: refused, the current pair stays.
  copyFileSync(first.certFile, join(dir, 'tls', 'server.crt'))
  t.equal(reloadTls(running.server as any, tls, baseDir, log), false)
  t.match(lines.at(-1), { level: 'error', msg: `tls: reload refused, the current certificate stays: server.tls.key: ${join(dir, 'tls', 'server.key')} is not the private key of the certificate in ${join(dir, 'tls', 'server.crt')}` })
  t.equal((await get(`${running.url}/api/a`)).serial, second.serial)
  copyFileSync(join(dir, 'gateway.json'), join(dir, 'tls', 'server.key'))
  t.equal(reloadTls(running.server as any, tls, baseDir, log), false)
  t.match(lines.at(-1), { level: 'error', msg: /server\.tls\.key: .* is not an unencrypted PEM private key/ })
  t.equal((await get(`${running.url}/api/a`)).serial, second.serial)
})

t.test('start: server.redirectHttp.port may not be the port listened on, whether the file or --port names it', async (t) => {
  const cert = pki.server('gw-redirect-port')
  const free = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number }
      probe.close(() => resolve(port))
    })
  })
  const dir = configDir(t, cert, { redirectHttp: { port: free } })
  const file = join(dir, 'gateway.json')
  // The file's own server.port is 0; --port makes it the redirect's.
  await t.rejects(start({ config: file, port: free }), {
    code: 'FJG_ERR_CONFIG_INVALID',
    problems: [`server.redirectHttp.port: must differ from the port listened on, got ${free}`]
  })
  const same = tempDir(t)
  writeJson(join(same, 'gateway.json'), { server: { port: free, redirectHttp: { port: free }, tls: { cert: cert.certFile, key: cert.keyFile } }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] })
  await t.rejects(start({ config: join(same, 'gateway.json') }), {
    code: 'FJG_ERR_CONFIG_INVALID',
    problems: [`server.redirectHttp.port: must differ from server.port, got ${free}`]
  })
})

t.test('check and start: a certificate that is not the key\'s is refused; an expiring one is a warning', async (t) => {
  const a = pki.server('gw-a')
  const b = pki.server('gw-b')
  const dir = configDir(t, a)
  copyFileSync(b.keyFile, join(dir, 'tls', 'server.key'))
  const file = join(dir, 'gateway.json')
  const problem = `server.tls.key: ${join(dir, 'tls', 'server.key')} is not the private key of the certificate in ${join(dir, 'tls', 'server.crt')}`
  await t.rejects(check(file), { code: 'FJG_ERR_CONFIG_INVALID', problems: [problem] })
  await t.rejects(start({ config: file }), { code: 'FJG_ERR_CONFIG_INVALID', problems: [problem] })

  const missing = tempDir(t)
  writeJson(join(missing, 'gateway.json'), { server: { tls: { cert: 'nope.crt', key: 'nope.key' } }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] })
  await t.rejects(check(join(missing, 'gateway.json')), {
    code: 'FJG_ERR_CONFIG_INVALID',
    problems: [`server.tls.cert: cannot read ${join(missing, 'nope.crt')}: no such file`, `server.tls.key: cannot read ${join(missing, 'nope.key')}: no such file`]
  })

  const soon = pki.server('gw-soon', { days: 10 })
  const ok = await check(join(configDir(t, soon), 'gateway.json'))
  t.equal(ok.warnings.length, 1)
  t.match(ok.warnings[0], /^server\.tls\.cert: the certificate expires in (9|10) days, on \d{4}-\d\d-\d\dT/)
  const fine = await check(join(configDir(t, pki.server('gw-fine', { days: 90 })), 'gateway.json'))
  t.strictSame(fine.warnings, [])
})

/** The peer certificate's serial seen by an HTTP/2 client (node:http2), and the answer's status. */
async function h2Get (t: Test, url: string, path: string, client?: Issued): Promise<{ status: number, serial: string, body: any }> {
  const session = http2.connect(url, { ca: pki.ca.cert, ...(client === undefined ? {} : { cert: client.cert, key: client.key }) })
  t.teardown(() => session.destroy())
  const stream = session.request({ ':path': path })
  let text = ''
  stream.on('data', (c) => { text += String(c) })
  const status = await new Promise<number>((resolve, reject) => {
    stream.on('response', (h) => resolve(h[':status'] as number))
    stream.on('error', reject)
  })
  await new Promise((resolve) => stream.on('end', resolve))
  const serial = (session.socket as TLSSocket).getPeerCertificate().serialNumber
  session.close()
  let body: unknown = text
  try { body = JSON.parse(text) } catch {}
  return { status, serial, body }
}

t.test('start + reload() (SIGHUP): the listener gets the new certificate, a request in flight finishes, a bad pair or a listener change is refused', async (t) => {
  const up = await upstream(t)
  const first = pki.server('gw-r1')
  const second = pki.server('gw-r2')
  const dir = configDir(t, first, { http2: true }, up)
  const file = join(dir, 'gateway.json')
  const routes = (extra: Array<Record<string, unknown>>): Array<Record<string, unknown>> => [{ prefix: '/api', upstream: up, rewritePrefix: '/api', jwt: false }, ...extra]
  const write = (server: Record<string, unknown>, extra: Array<Record<string, unknown>> = []): void => {
    writeJson(file, { server: { host: '127.0.0.1', port: 0, logLevel: 'silent', tls: { cert: 'tls/server.crt', key: 'tls/server.key' }, ...server }, routes: routes(extra) })
  }
  const running = await run(t, dir)
  t.match(running.url, /^https:\/\//)
  t.equal(running.redirectPort, null)

  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => keepAlive.destroy())
  t.equal((await get(`${running.url}/api/a`, { agent: keepAlive })).serial, first.serial)
  t.equal((await h2Get(t, running.url, '/api/a')).serial, first.serial)
  const inFlight = get(`${running.url}/api/slow?ms=400`)
  await new Promise((resolve) => setTimeout(resolve, 100))

  copyFileSync(second.certFile, join(dir, 'tls', 'server.crt'))
  copyFileSync(second.keyFile, join(dir, 'tls', 'server.key'))
  write({ http2: true }, [{ prefix: '/v2', upstream: up, jwt: false }])
  t.strictSame(await running.reload(), { ok: true, problems: [], warnings: [] })

  const slow = await inFlight
  t.equal(slow.status, 200, 'the request in flight finishes')
  t.strictSame(slow.body, { slow: true, ms: 400 })
  t.equal(slow.serial, first.serial)
  const fresh = await get(`${running.url}/v2/x`)
  t.equal(fresh.status, 200, 'the reloaded config is served')
  t.equal(fresh.serial, second.serial, 'a new HTTP/1.1 handshake sees the new serial')
  t.equal(fresh.body.headers['x-forwarded-proto'], 'https')
  const h2 = await h2Get(t, running.url, '/v2/y')
  t.equal(h2.status, 200)
  t.equal(h2.serial, second.serial, 'a new HTTP/2 handshake sees the new serial')
  t.equal((await get(`${running.url}/api/a`, { agent: keepAlive })).serial, first.serial, 'the open connection keeps its certificate')

  // A certificate with another certificate's key: the whole reload is refused (as check refuses it); the running pair and routes stay.
  copyFileSync(first.certFile, join(dir, 'tls', 'server.crt'))
  write({ http2: true })
  const bad = await running.reload()
  t.strictSame(bad, { ok: false, problems: [`server.tls.key: ${join(dir, 'tls', 'server.key')} is not the private key of the certificate in ${join(dir, 'tls', 'server.crt')}`], warnings: [] })
  const kept = await get(`${running.url}/v2/x`)
  t.equal(kept.serial, second.serial, 'the old certificate stays')
  t.equal(kept.status, 200, 'the old config stays')

  // What the listening server was made with needs a restart.
  copyFileSync(second.certFile, join(dir, 'tls', 'server.crt'))
  write({})
  t.strictSame(await running.reload(), { ok: false, problems: ['server.http2: changing it from true to false needs a restart'], warnings: [] })
  write({ http2: true, tls: { cert: 'tls/server.crt', key: 'tls/server.key', ca: 'tls/server.crt', clientAuth: 'optional' } })
  t.strictSame(await running.reload(), { ok: false, problems: ['server.tls.clientAuth: changing it from (none) to optional needs a restart'], warnings: [] })
  writeJson(file, { server: { host: '127.0.0.1', port: 0, logLevel: 'silent' }, routes: routes([]) })
  t.strictSame(await running.reload(), { ok: false, problems: ['server.tls: turning TLS off needs a restart (the listener is TLS)'], warnings: [] })
  t.equal((await h2Get(t, running.url, '/v2/z')).status, 200, 'still the config before the refused reloads')
})

t.test('start with clientAuth: client certificates reach the routes through the Listener, on HTTP/1.1 and HTTP/2', async (t) => {
  const up = await upstream(t)
  const cert = pki.server('gw-mtls')
  const alice = pki.client('alice')
  const dir = configDir(t, cert, {}, up)
  copyFileSync(pki.ca.certFile, join(dir, 'tls', 'ca.crt'))
  writeJson(join(dir, 'gateway.json'), {
    server: { host: '127.0.0.1', port: 0, logLevel: 'silent', http2: true, tls: { cert: 'tls/server.crt', key: 'tls/server.key', ca: 'tls/ca.crt', clientAuth: 'optional' } },
    routes: [
      { prefix: '/mtls', upstream: up, jwt: false, clientCert: 'required', clientCertHeaders: { 'x-client-thumbprint': 'x5t#S256' } },
      { prefix: '/', upstream: up, jwt: false }
    ]
  })
  const running = await run(t, dir)
  const withCert = await h2Get(t, running.url, '/mtls/a', alice)
  t.equal(withCert.status, 200)
  t.equal(withCert.body.headers['x-client-thumbprint'], alice.thumbprint)
  const without = await h2Get(t, running.url, '/mtls/a')
  t.equal(without.status, 403)
  t.equal(without.body.code, 'FJG_ERR_CLIENT_CERT_REQUIRED')
  t.equal((await h2Get(t, running.url, '/open')).status, 200)
  // A client that offers only http/1.1 (a variable: https' RequestOptions type does not list ALPNProtocols).
  const h1Options = { ca: pki.ca.cert, cert: alice.cert, key: alice.key, agent: false as const, ALPNProtocols: ['http/1.1'] }
  const h1 = await new Promise<Got>((resolve, reject) => {
    httpsRequest(`${running.url}/mtls/b`, h1Options, (res) => {
      let text = ''
      res.on('data', (c) => { text += String(c) })
      res.on('end', () => resolve({ status: res.statusCode as number, headers: res.headers, body: JSON.parse(text), serial: '', alpn: (res.socket as TLSSocket).alpnProtocol ?? false }))
    }).on('error', reject).end()
  })
  t.equal(h1.status, 200)
  t.equal(h1.alpn, 'http/1.1')
  t.equal(h1.body.headers['x-client-thumbprint'], alice.thumbprint)
})

t.test('workers: every worker listens with TLS (HTTP/2 and HTTP/1.1); SIGHUP gives the replaced workers the new certificate', async (t) => {
  const up = await upstream(t)
  const first = pki.server('gw-w1')
  const second = pki.server('gw-w2')
  const dir = configDir(t, first, { workers: 2, http2: true, logLevel: 'info' }, up)
  const gw = await startCli(t, ['start', '--config', join(dir, 'gateway.json')], { timeout: 30_000 })
  const ready = JSON.parse(await gw.waitFor((l) => l.includes('(2 workers)'), 30_000))
  t.match(ready.msg, /^fastify-jwt-gateway listening on https:\/\/127\.0\.0\.1:\d+ \(2 workers\)$/)
  t.match(gw.url, /^https:\/\//)
  const before = await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${gw.url}/api/w${i}`)))
  t.same(before.map((r) => [r.status, r.serial, r.body.headers['x-forwarded-proto']]), Array(4).fill([200, first.serial, 'https']))
  t.equal(new Set(before.map((r) => r.body.pid)).size, 1, 'one upstream (this process)')
  const h2 = await h2Get(t, gw.url, '/api/h2')
  t.same([h2.status, h2.serial], [200, first.serial])
  const servedBy = new Set(gw.logs().filter((l) => l.msg === 'incoming request').map((l) => l.pid))
  t.equal(servedBy.size, 2, 'both workers served TLS requests')

  copyFileSync(second.certFile, join(dir, 'tls', 'server.crt'))
  copyFileSync(second.keyFile, join(dir, 'tls', 'server.key'))
  gw.child.kill('SIGHUP')
  await gw.waitFor((l) => l.includes('workers replaced'), 30_000)
  const after = await Promise.all(Array.from({ length: 4 }, (_, i) => get(`${gw.url}/api/n${i}`)))
  t.same(after.map((r) => [r.status, r.serial]), Array(4).fill([200, second.serial]), 'every worker now has the new certificate')
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
})

t.test('start with http2: WebSocket over HTTP/1.1 through the Listener; close() with an idle HTTP/2 session, an idle keep-alive and a stream in flight', async (t) => {
  const ws = await echoUpstream(t)
  const up = await upstream(t)
  const cert = pki.server('gw-h2ws')
  const dir = configDir(t, cert, { http2: true }, up)
  writeJson(join(dir, 'gateway.json'), {
    server: { host: '127.0.0.1', port: 0, logLevel: 'silent', http2: true, tls: { cert: 'tls/server.crt', key: 'tls/server.key' } },
    routes: [{ prefix: '/ws', upstream: ws.url, jwt: false, websocket: true }, { prefix: '/api', upstream: up, rewritePrefix: '/api', jwt: false }]
  })
  const running = await start({ config: join(dir, 'gateway.json') })
  let closed = false
  t.teardown(() => closed ? undefined : running.close())

  // A WebSocket handshake by hand (the preset has no ws client): 101, then the upstream's first text frame.
  const frame = await new Promise<{ status: number, text: string }>((resolve, reject) => {
    const options = { ca: pki.ca.cert, agent: false as const, ALPNProtocols: ['http/1.1'], headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' } }
    const req = httpsRequest(`${running.url}/ws/socket`, options)
    req.on('upgrade', (res, socket) => {
      socket.once('data', (data: Buffer) => {
        socket.destroy()
        resolve({ status: res.statusCode as number, text: data.subarray(data[1] as number === 126 ? 4 : 2).toString() })
      })
    })
    req.on('response', (res) => reject(new Error(`no upgrade: ${res.statusCode as number}`)))
    req.on('error', reject)
    req.end()
  })
  t.equal(frame.status, 101)
  t.equal(JSON.parse(frame.text).headers['x-forwarded-proto'], 'https', 'the upstream saw the handshake')

  const session = http2.connect(running.url, { ca: pki.ca.cert })
  t.teardown(() => session.destroy())
  const idle = http2.connect(running.url, { ca: pki.ca.cert })
  t.teardown(() => idle.destroy())
  await new Promise((resolve) => idle.once('connect', resolve))
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => keepAlive.destroy())
  t.equal((await get(`${running.url}/api/a`, { agent: keepAlive })).alpn, false, 'an idle HTTP/1.1 keep-alive connection')

  const stream = session.request({ ':path': '/api/slow?ms=300' })
  let text = ''
  stream.on('data', (c) => { text += String(c) })
  const status = new Promise((resolve) => stream.on('response', (h) => resolve(h[':status'])))
  await new Promise((resolve) => setTimeout(resolve, 100))
  const idleClosed = new Promise((resolve) => idle.once('close', resolve))
  await running.close()
  closed = true
  t.equal(await status, 200, 'the stream in flight finished before close() resolved')
  t.strictSame(JSON.parse(text), { slow: true, ms: 300 })
  await idleClosed
  t.pass('the idle HTTP/2 session was closed')
})

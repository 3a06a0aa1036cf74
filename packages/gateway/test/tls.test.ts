// The gateway on a TLS listener: HTTPS, HTTP/2 with HTTP/1.1 by ALPN, client
// certificates (required, optional, per route), forwarded client-certificate
// headers and their spoofing, certificate-bound tokens. A private CA and
// certificates made per run by openssl; a real upstream.
import { once } from 'node:events'
import { createServer } from 'node:http'
import http2 from 'node:http2'
import { request as httpsRequest } from 'node:https'
import type { AddressInfo } from 'node:net'
import type { SecureServerOptions } from 'node:http2'
import t from 'tap'
import { WebSocket } from 'ws'
import { buildGateway, type GatewayConfig } from '../src/index.js'
import { makePki, type Issued } from '../../jwt-auth/test/helpers/pki.js'
import { bearer, echoUpstream, hs, SECRET, type Answer } from './helpers/servers.js'

const pki = makePki(t)
const serverCert = pki.server('gateway')
const alice = pki.client('alice')
const bob = pki.client('bob')
const stranger = pki.client('mallory', { by: pki.otherCa('stranger-ca') })

type ClientAuth = 'optional' | 'required' | undefined

/** What the preset loads from `server.tls`'s files, for buildGateway. */
function loaded (clientAuth: ClientAuth): SecureServerOptions {
  return { cert: serverCert.cert, key: serverCert.key, ...(clientAuth === undefined ? {} : { ca: pki.ca.cert }) }
}

async function startTls (config: GatewayConfig, clientAuth?: ClientAuth): Promise<string> {
  const tls = { cert: serverCert.certFile, key: serverCert.keyFile, ...(clientAuth === undefined ? {} : { ca: pki.ca.certFile, clientAuth }) }
  const app = await buildGateway({ ...config, server: { ...config.server, tls } }, { https: loaded(clientAuth) })
  t.teardown(() => app.close())
  await app.listen({ host: '127.0.0.1', port: 0 })
  return `https://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

interface TlsAnswer extends Answer { alpn: string | false }

function get (url: string, opts: { headers?: Record<string, string>, client?: Issued } = {}): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      ca: pki.ca.cert,
      agent: false,
      headers: opts.headers ?? {},
      ...(opts.client === undefined ? {} : { cert: opts.client.cert, key: opts.client.key })
    }, (res) => {
      let text = ''
      res.on('data', (c) => { text += String(c) })
      res.on('end', () => {
        let body: unknown = text
        try { body = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode as number, headers: res.headers as Record<string, string>, body, alpn: (res.socket as any).alpnProtocol })
      })
    })
    req.on('error', reject)
    req.end()
  })
}

function h2get (url: string, path: string, headers: Record<string, string> = {}, client?: Issued): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { ca: pki.ca.cert, ...(client === undefined ? {} : { cert: client.cert, key: client.key }) })
    session.on('error', reject)
    const stream = session.request({ ':path': path, ...headers })
    let status = 0
    let head: Record<string, string> = {}
    let text = ''
    stream.on('response', (h) => { status = h[':status'] as number; head = h as Record<string, string> })
    stream.on('data', (c) => { text += String(c) })
    stream.on('end', () => {
      const alpn = session.alpnProtocol ?? false
      session.close()
      let body: unknown = text
      try { body = JSON.parse(text) } catch {}
      resolve({ status, headers: head, body, alpn })
    })
    stream.on('error', reject)
    stream.end()
  })
}

const claims = { claimsToHeaders: { 'x-user-id': 'sub' } }

t.test('HTTPS: forwarding with claim headers and X-Forwarded-Proto: https', async (t) => {
  const up = await echoUpstream(t)
  const url = await startTls({ jwt: { secret: SECRET, ...claims }, routes: [{ prefix: '/api', upstream: up.url }] })
  const res = await get(`${url}/api/x?y=1`, { headers: bearer(hs({ sub: 'alice' })) })
  t.equal(res.status, 200)
  t.equal(res.body.url, '/x?y=1')
  t.equal(res.body.headers['x-forwarded-proto'], 'https')
  t.equal(res.body.headers['x-user-id'], 'alice')
  const denied = await get(`${url}/api/x`)
  t.equal(denied.status, 401)
  t.equal(denied.headers['www-authenticate'], 'Bearer realm="api"')
})

t.test('HTTP/2 over TLS, HTTP/1.1 by ALPN, WebSocket over HTTP/1.1 on the same listener', async (t) => {
  const up = await echoUpstream(t)
  const url = await startTls({
    server: { http2: true },
    jwt: { secret: SECRET, ...claims },
    routes: [{ prefix: '/api', upstream: up.url, websocket: true }]
  })
  const token = hs({ sub: 'alice' })

  const h2 = await h2get(url, '/api/h2', bearer(token))
  t.equal(h2.alpn, 'h2', 'an h2 client gets HTTP/2')
  t.equal(h2.status, 200)
  t.equal(h2.body.url, '/h2')
  t.equal(h2.body.headers['x-forwarded-proto'], 'https')
  t.equal(h2.body.headers['x-user-id'], 'alice')
  const h2denied = await h2get(url, '/api/h2')
  t.equal(h2denied.status, 401)
  t.equal(h2denied.headers['www-authenticate'], 'Bearer realm="api"')
  t.equal(h2denied.body.code, 'FJG_ERR_TOKEN_MISSING')

  const h1 = await get(`${url}/api/h1`, { headers: bearer(token) })
  t.equal(h1.alpn, false, 'a client that offers no ALPN gets HTTP/1.1')
  t.equal(h1.status, 200)
  t.equal(h1.body.headers['x-forwarded-proto'], 'https')
  t.equal(h1.body.headers['x-user-id'], 'alice')

  const ws = new WebSocket(`${url.replace('https:', 'wss:')}/api/socket`, { ca: pki.ca.cert, headers: bearer(token) })
  t.teardown(() => ws.terminate())
  const [first] = await once(ws, 'message')
  const handshake = JSON.parse(String(first))
  t.equal(handshake.headers['x-user-id'], 'alice', 'the upstream handshake carries the claims')
  t.equal(handshake.headers['x-forwarded-proto'], 'https')
  ws.send('hi')
  const [echo] = await once(ws, 'message')
  t.equal(String(echo), 'echo:hi')
})

t.test('cancellation over TLS: a client that leaves, by HTTP/2 stream or HTTP/1.1 socket, takes its upstream request with it', async (t) => {
  let seen = 0
  let closed = 0
  // An upstream that never answers /hang and counts the requests whose connection went away.
  const hanging = createServer((req, res) => {
    seen++
    req.on('close', () => { if (!res.writableEnded) closed++ })
    if (req.url !== '/hang') res.end('{}')
  })
  hanging.listen(0, '127.0.0.1')
  await once(hanging, 'listening')
  t.teardown(() => { hanging.closeAllConnections(); hanging.close() })
  const url = await startTls({ server: { http2: true }, routes: [{ prefix: '/', upstream: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}` }] })
  const until = async (ok: () => boolean): Promise<boolean> => {
    for (let i = 0; i < 400 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 10))
    return ok()
  }

  const session = http2.connect(url, { ca: pki.ca.cert })
  t.teardown(() => session.destroy())
  const stream = session.request({ ':path': '/hang' })
  stream.on('error', () => {})
  stream.end()
  t.ok(await until(() => seen === 1), 'the HTTP/2 request reached the upstream')
  stream.close(http2.constants.NGHTTP2_CANCEL)
  t.ok(await until(() => closed === 1), 'the cancelled stream closed its upstream request')

  const req = httpsRequest(`${url}/hang`, { ca: pki.ca.cert, agent: false })
  req.on('error', () => {})
  req.end()
  t.ok(await until(() => seen === 2), 'the HTTP/1.1 request reached the upstream')
  req.destroy()
  t.ok(await until(() => closed === 2), 'the closed socket closed its upstream request')
})

t.test('clientAuth "required": no valid client certificate, no handshake', async (t) => {
  const up = await echoUpstream(t)
  const url = await startTls({ routes: [{ prefix: '/', upstream: up.url, clientCertHeaders: { 'x-client-dn': 'subject' } }] }, 'required')
  const ok = await get(`${url}/x`, { client: alice })
  t.equal(ok.status, 200)
  t.equal(ok.body.headers['x-client-dn'], 'CN=alice,O=Test Org')
  await t.rejects(get(`${url}/x`), 'no certificate: the handshake fails')
  await t.rejects(get(`${url}/x`, { client: stranger }), 'a certificate of another CA: the handshake fails')
})

t.test('clientAuth "optional": routes with clientCert "required", forwarded certificate headers, spoofing', async (t) => {
  const up = await echoUpstream(t)
  const certHeaders = { 'x-client-dn': 'subject', 'x-client-issuer': 'issuer', 'x-client-serial': 'serial', 'x-client-thumbprint': 'x5t#S256' } as const
  const url = await startTls({
    routes: [
      { prefix: '/mtls', upstream: up.url, clientCert: 'required', clientCertHeaders: certHeaders },
      { prefix: '/open', upstream: up.url }
    ]
  }, 'optional')
  const spoof = {
    'x-client-dn': 'CN=admin', x_client_dn: 'CN=admin', 'x-client_thumbprint': 'forged', 'X-Client-Serial': '1'
  }

  const ok = await get(`${url}/mtls/a`, { client: alice, headers: spoof })
  t.equal(ok.status, 200)
  const h = ok.body.headers
  t.equal(h['x-client-dn'], 'CN=alice,O=Test Org')
  t.equal(h['x-client-issuer'], 'CN=test-ca')
  t.equal(h['x-client-serial'], alice.serial)
  t.equal(h['x-client-thumbprint'], alice.thumbprint)
  t.equal(h.x_client_dn, undefined, 'the underscore spelling is removed')
  t.equal(h['x-client_thumbprint'], undefined)

  const refused = { statusCode: 403, error: 'Forbidden', code: 'FJG_ERR_CLIENT_CERT_REQUIRED', message: 'A valid client certificate is required' }
  const none = await get(`${url}/mtls/a`, { headers: spoof })
  t.equal(none.status, 403)
  t.strictSame(none.body, refused)
  const other = await get(`${url}/mtls/a`, { client: stranger })
  t.equal(other.status, 403, 'a certificate the CA did not sign does not count')
  t.strictSame(other.body, refused)

  const open = await get(`${url}/open/a`, { headers: spoof })
  t.equal(open.status, 200, 'a route without clientCert takes requests without one')
  for (const name of ['x-client-dn', 'x_client_dn', 'x-client_thumbprint', 'x-client-serial']) {
    t.equal(open.body.headers[name], undefined, `${name}: never passed from the client`)
  }
  const openStranger = await get(`${url}/open/a`, { client: stranger, headers: spoof })
  t.equal(openStranger.status, 200)
  t.equal(openStranger.body.headers['x-client-dn'], undefined)
})

t.test('certificateBound through the gateway, with the token cache', async (t) => {
  const up = await echoUpstream(t)
  const url = await startTls({
    server: { http2: true },
    jwt: { secret: SECRET, certificateBound: true, ...claims },
    routes: [{ prefix: '/api', upstream: up.url, clientCertHeaders: { 'x-client-thumbprint': 'x5t#S256' } }]
  }, 'optional')
  const token = hs({ sub: 'alice', cnf: { 'x5t#S256': alice.thumbprint } })
  const ok = await get(`${url}/api/a`, { client: alice, headers: bearer(token) })
  t.equal(ok.status, 200)
  t.equal(ok.body.headers['x-user-id'], 'alice')
  t.equal((await get(`${url}/api/a`, { client: alice, headers: bearer(token) })).status, 200, 'again: now cached (admitted on the second sight)')
  const stolen = await get(`${url}/api/a`, { client: bob, headers: bearer(token) })
  t.equal(stolen.status, 401, 'a cache hit on another client\'s connection')
  t.equal(stolen.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token is bound to another client certificate"')
  t.equal(stolen.body.code, 'FJG_ERR_TOKEN_CERT_MISMATCH')
  const bare = await get(`${url}/api/a`, { headers: bearer(token) })
  t.equal(bare.status, 401)
  t.equal(bare.body.code, 'FJG_ERR_TOKEN_CERT_MISSING')
  const unbound = await get(`${url}/api/a`, { client: alice, headers: bearer(hs({ sub: 'alice' })) })
  t.equal(unbound.status, 401)
  t.equal(unbound.body.code, 'FJG_ERR_TOKEN_NOT_BOUND')

  // Over HTTP/2 the certificate is the session's (request.raw.socket is the session's socket).
  const h2 = await h2get(url, '/api/h2', bearer(token), alice)
  t.equal(h2.alpn, 'h2')
  t.equal(h2.status, 200)
  t.equal(h2.body.headers['x-client-thumbprint'], alice.thumbprint)
  const h2stolen = await h2get(url, '/api/h2', bearer(token), bob)
  t.equal(h2stolen.status, 401)
  t.equal(h2stolen.body.code, 'FJG_ERR_TOKEN_CERT_MISMATCH')
})

t.test('what needs TLS or client certificates is refused at start without them', async (t) => {
  const up = 'http://127.0.0.1:9'
  await t.rejects(buildGateway({
    server: { http2: true, redirectHttp: { port: 8080 } },
    jwt: { secret: SECRET, certificateBound: true },
    routes: [{ prefix: '/', upstream: up, clientCert: 'required', clientCertHeaders: { 'x-dn': 'subject' } }]
  }), {
    code: 'FJG_ERR_GATEWAY_CONFIG',
    problems: [
      'server.http2: needs server.tls (HTTP/2 is served over TLS)',
      'server.redirectHttp: needs server.tls (it redirects to the HTTPS listener)',
      'jwt.certificateBound: needs server.tls.clientAuth (no client certificate is ever asked for)',
      'routes[0].clientCert: needs server.tls.clientAuth (no client certificate is ever asked for)',
      'routes[0].clientCertHeaders: needs server.tls.clientAuth (no client certificate is ever asked for)'
    ]
  })
  // A provider's certificateBound needs the client certificate as much as the policy's own.
  await t.rejects(buildGateway({
    jwt: { providers: [{ issuer: 'https://a.example', secret: SECRET }, { issuer: 'https://b.example', secret: SECRET, certificateBound: true }] },
    routes: [
      { prefix: '/a', upstream: up },
      { prefix: '/b', upstream: up, jwt: { providers: [{ issuer: 'https://c.example', secret: SECRET, certificateBound: true }] } },
      { prefix: '/c', upstream: up, jwt: { providers: [{ issuer: 'https://d.example', secret: SECRET, certificateBound: false }] } }
    ]
  }), {
    code: 'FJG_ERR_GATEWAY_CONFIG',
    problems: [
      'jwt.providers[1].certificateBound: needs server.tls.clientAuth (no client certificate is ever asked for)',
      'routes[1].jwt.providers[0].certificateBound: needs server.tls.clientAuth (no client certificate is ever asked for)'
    ]
  })
  await t.rejects(buildGateway({ server: { tls: { cert: 'a.pem', key: 'b.pem', clientAuth: 'optional', minVersion: 'TLSv1.1' as any } }, routes: [{ prefix: '/', upstream: up, clientCertHeaders: { 'x-dn': 'dn' as any } }] }), {
    code: 'FJG_ERR_GATEWAY_CONFIG',
    problems: [
      'server.tls.minVersion: must be one of "TLSv1.2", "TLSv1.3", got "TLSv1.1"',
      'routes[0].clientCertHeaders["x-dn"]: must be one of "subject", "issuer", "serial", "x5t#S256", got "dn"',
      'server.tls.clientAuth: needs server.tls.ca (the CA client certificates are checked against)'
    ]
  })
  await t.rejects(buildGateway({ server: { tls: { cert: 'a.pem', key: 'b.pem' } }, routes: [{ prefix: '/', upstream: up }] }), {
    code: 'FJG_ERR_GATEWAY_CONFIG',
    problems: ['server.tls: buildGateway needs the loaded certificate and key as opts.https (the preset\'s start and check load them)']
  })
  await t.rejects(buildGateway({ routes: [{ prefix: '/', upstream: up }] }, { https: loaded(undefined) }), {
    code: 'FJG_ERR_GATEWAY_CONFIG',
    problems: ['server.tls: is required with opts.https (it says how the listener treats client certificates)']
  })
})

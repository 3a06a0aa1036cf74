// The reload Listener (one listening server, apps swapped behind it) keeps
// Node's own answers for the events an app does not listen to: `Expect:
// 100-continue` (curl sends it for bodies over 1 KiB) gets its 100 and
// becomes a request, another expectation is answered 417, an Upgrade to a
// route without WebSocket is an ordinary request. On plain HTTP and on TLS.
import { copyFileSync, mkdirSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { connect as netConnect } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { start, type RunningGateway } from '../src/index.js'
import { makePki } from '../../jwt-auth/test/helpers/pki.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'

const pki = makePki(t)

interface Probe { status: number, continued: boolean, body: any }

function probe (url: string, headers: Record<string, string>, body?: string): Promise<Probe> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    let continued = false
    const req = request(url, { headers, agent: false, ca: pki.ca.cert }, (res) => {
      let text = ''
      res.on('data', (c) => { text += String(c) })
      res.on('end', () => {
        let parsed: unknown = text
        try { parsed = JSON.parse(text) } catch {}
        resolve({ status: res.statusCode as number, continued, body: parsed })
      })
    })
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')))
    if (headers.expect === '100-continue') {
      req.on('continue', () => {
        continued = true
        req.end(body)
      })
    } else {
      req.end(body)
    }
  })
}

async function gateway (t: Test, tls: boolean): Promise<RunningGateway> {
  const up = await upstream(t)
  const dir = tempDir(t)
  const server: Record<string, unknown> = { host: '127.0.0.1', port: 0, logLevel: 'silent' }
  if (tls) {
    const cert = pki.server('gw-listener')
    mkdirSync(join(dir, 'tls'))
    copyFileSync(cert.certFile, join(dir, 'tls', 'server.crt'))
    copyFileSync(cert.keyFile, join(dir, 'tls', 'server.key'))
    server.tls = { cert: 'tls/server.crt', key: 'tls/server.key' }
  }
  writeJson(join(dir, 'gateway.json'), { server, routes: [{ prefix: '/', upstream: up, jwt: false }] })
  const running = await start({ config: join(dir, 'gateway.json') })
  t.teardown(() => running.close())
  return running
}

for (const tls of [false, true]) {
  t.test(`${tls ? 'HTTPS' : 'HTTP'}: Expect and Upgrade get Node's answers through the Listener, before and after a reload`, async (t) => {
    const running = await gateway(t, tls)
    for (const when of ['before', 'after']) {
      if (when === 'after') t.strictSame(await running.reload(), { ok: true, problems: [], warnings: [] })
      const cont = await probe(`${running.url}/a`, { expect: '100-continue', 'content-length': '5' }, 'hello')
      t.equal(cont.continued, true, `${when}: 100 Continue is sent`)
      t.equal(cont.status, 200, `${when}: the request is then served`)
      t.equal(cont.body.url, '/a')
      const other = await probe(`${running.url}/a`, { expect: 'x-something' })
      t.equal(other.status, 417, `${when}: an unknown expectation`)
      const upgrade = await probe(`${running.url}/a`, { connection: 'upgrade', upgrade: 'websocket' })
      t.equal(upgrade.status, 400, `${when}: an Upgrade to a route without WebSocket is an ordinary request`)
      t.equal(upgrade.body.code, 'FJG_ERR_WEBSOCKET_DISABLED')
    }
  })
}

// A connection the listener accepted just before close() has not sent its
// request yet: the sweep of idle connections must leave it be, and it gets its
// answer.
for (const tls of [false, true]) {
  t.test(`${tls ? 'HTTPS' : 'HTTP'}: close() answers a connection accepted just before, whose request comes after`, async (t) => {
    const running = await gateway(t, tls)
    const { port } = new URL(running.url)
    const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const s: import('node:net').Socket = tls
        ? tlsConnect({ host: '127.0.0.1', port: Number(port), ca: pki.ca.cert, servername: 'localhost' }, () => resolve(s))
        : netConnect({ host: '127.0.0.1', port: Number(port) }, () => resolve(s))
      s.on('error', reject)
    })
    // The server has taken the connection (for TLS: the handshake is done).
    await new Promise((resolve) => setTimeout(resolve, 50))
    let answer = ''
    socket.on('data', (d) => { answer += String(d) })
    const ended = new Promise<void>((resolve) => socket.on('close', () => resolve()))
    const closing = running.close()
    await new Promise((resolve) => setImmediate(resolve))
    socket.write('GET /late HTTP/1.1\r\nhost: localhost\r\n\r\n')
    await ended
    await closing
    t.match(answer, /^HTTP\/1\.1 200 /, 'the late request is answered, not reset')
    t.match(answer, /"url":"\/late"/)
  })
}

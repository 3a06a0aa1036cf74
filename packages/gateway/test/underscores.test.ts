import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import type { GatewayConfig } from '../src/index.js'
import { bearer, echoUpstream, hs, rawRequest, SECRET, startGateway } from './helpers/servers.js'

// Issue 10.3: CGI/WSGI upstreams read `x_user_id` and `x-user-id` as one
// HTTP_X_USER_ID. A client's underscore spelling must never reach them.

interface T { teardown (fn: () => unknown): void }

// A WSGI app (the stdlib's wsgiref) answering with the HTTP_* environ it saw.
const WSGI = `
import json, sys
from wsgiref.simple_server import make_server, WSGIRequestHandler
class Quiet(WSGIRequestHandler):
    def log_message(self, *a): pass
def app(environ, start):
    body = json.dumps({k: v for k, v in environ.items() if k.startswith('HTTP_')}).encode()
    start('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
srv = make_server('127.0.0.1', 0, app, handler_class=Quiet)
print(srv.server_port, flush=True)
srv.serve_forever()
`

async function wsgiUpstream (t: T): Promise<string> {
  const child = spawn('python3', ['-c', WSGI], { stdio: ['ignore', 'pipe', 'inherit'] })
  t.teardown(() => { child.kill() })
  const [line] = await once(child.stdout, 'data') as [Buffer]
  return `http://127.0.0.1:${String(line).trim()}`
}

function config (upstream: string, server: GatewayConfig['server'] = {}): GatewayConfig {
  return {
    server,
    jwt: { secret: SECRET, claimsToHeaders: { 'x-user-id': 'sub', 'x-role': 'role' }, joseHeadersToHeaders: { 'x-key-id': 'kid' }, payloadHeader: 'x-jwt-payload' },
    routes: [{ prefix: '/api', upstream }, { prefix: '/', upstream, jwt: false }]
  }
}

const spoof = {
  x_user_id: 'evil', x_role: 'admin', x_key_id: 'evil', x_jwt_payload: 'evil', X_User_Id: 'evil2', my_header: 'kept?'
}

t.test('WSGI upstream: underscore spellings never become HTTP_X_USER_ID / HTTP_X_ROLE (default: all dropped)', async (t) => {
  const up = await wsgiUpstream(t)
  const { url } = await startGateway(t, config(up))
  const res = await rawRequest(url, '/api/x', { headers: { ...spoof, ...bearer(hs({ sub: 'u-1', role: 'sales' }, { kid: 'k1' })) } })
  t.equal(res.status, 200)
  t.equal(res.body.HTTP_X_USER_ID, 'u-1', 'the claim alone, not merged with the spoof')
  t.equal(res.body.HTTP_X_ROLE, 'sales')
  t.equal(res.body.HTTP_X_KEY_ID, 'k1')
  t.notOk(String(res.body.HTTP_X_JWT_PAYLOAD).includes('evil'))
  t.equal(res.body.HTTP_MY_HEADER, undefined, 'any name with "_" is dropped by default (nginx underscores_in_headers off)')
  // On an open route too: nothing forwards claims there, and the spoof must not pass as one.
  const open = await rawRequest(url, '/x', { headers: spoof })
  t.equal(open.status, 200)
  t.equal(open.body.HTTP_X_USER_ID, undefined)
  t.equal(open.body.HTTP_X_ROLE, undefined)
})

t.test('server.underscoresInHeaders: other names pass, the spellings of forwarded headers never', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, config(up.url, { underscoresInHeaders: true }))
  const res = await rawRequest(url, '/api/x', { headers: { ...spoof, ...bearer(hs({ sub: 'u-1', role: 'sales' })) } })
  t.equal(res.status, 200)
  const h = res.body.headers as Record<string, string>
  t.equal(h['my_header'], 'kept?')
  for (const name of ['x_user_id', 'x_role', 'x_key_id', 'x_jwt_payload']) t.equal(h[name], undefined, name)
  t.equal(h['x-user-id'], 'u-1')
  const open = await rawRequest(url, '/x', { headers: spoof })
  t.equal(open.body.headers.x_user_id, undefined)
  t.equal(open.body.headers.x_role, undefined)
  t.equal(open.body.headers.my_header, 'kept?')
})

t.test('default: the upstream sees no name with "_" at all (raw headers)', async (t) => {
  const up = await echoUpstream(t)
  const { url } = await startGateway(t, config(up.url))
  const res = await rawRequest(url, '/x', { headers: { ...spoof, 'x-ok': '1' } })
  t.equal(res.status, 200)
  t.same(Object.keys(res.body.headers).filter((k) => k.includes('_')), [])
  t.equal(res.body.headers['x-ok'], '1')
})

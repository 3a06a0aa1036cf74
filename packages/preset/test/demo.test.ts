import t from 'tap'
import { run, startCli } from './helpers/cli.js'
import { tempDir } from './helpers/fixtures.js'

// No config and no ./gateway.json: the demo. Its printed curl lines must work
// as shown, on the real port (`--port 0`).

interface Curl { headers: Record<string, string>, url: string }

/** `curl -i [-H 'Name: value']... URL` → what fetch needs; anything else fails the parse. */
function parseCurl (line: string): Curl {
  const m = /^ {2}curl -i((?: -H '[^']+')*) (http:\/\/\S+)$/.exec(line)
  if (m === null) throw new Error(`not a plain curl line: ${line}`)
  const headers: Record<string, string> = {}
  for (const h of (m[1] as string).matchAll(/-H '([^:]+): ([^']+)'/g)) headers[h[1] as string] = h[2] as string
  return { headers, url: m[2] as string }
}

t.test('demo: three curl lines that work as shown, on the real port', async (t) => {
  const cwd = tempDir(t)
  const gw = await startCli(t, ['start', '--port', '0'], { cwd })
  await gw.waitFor((l) => l.includes('Bearer '))
  const port = new URL(gw.url).port
  t.not(port, '0')
  t.not(port, '8080')

  const curls = gw.stdout().split('\n').filter((l) => l.startsWith('  curl '))
  t.equal(curls.length, 3, 'three curl lines')
  const [open, noToken, withToken] = curls.map(parseCurl) as [Curl, Curl, Curl]
  for (const c of [open, noToken, withToken]) t.equal(new URL(c.url).origin, gw.url, 'each line names the listening address')

  let res = await fetch(open.url, { headers: open.headers })
  t.equal(res.status, 200, 'public: 200')
  t.match(await res.json(), { service: 'leads-employees' })

  res = await fetch(noToken.url, { headers: noToken.headers })
  t.equal(res.status, 401, 'protected without a token: 401')
  t.equal(res.headers.get('www-authenticate'), 'Bearer realm="demo"')

  t.match(withToken.headers, { Authorization: /^Bearer eyJ/ })
  res = await fetch(withToken.url, { headers: withToken.headers })
  t.equal(res.status, 200, 'protected with the demo token: 200')
  const body = await res.json() as { leads: unknown[], identity: Record<string, string>, authorizationReceived: boolean }
  t.equal(body.leads.length, 3)
  t.same(body.identity, { 'x-user-id': 'demo-user', 'x-user-name': 'Demo User', 'x-user-role': 'sales' }, 'the upstream got the claims as headers')

  res = await fetch(`${gw.url}/api/employees`, { headers: { authorization: 'Bearer not.a.token' } })
  t.equal(res.status, 401, 'a bad token: 401')

  gw.child.kill('SIGINT')
  t.same(await gw.exited, { code: 0, signal: null }, 'Ctrl-C: exit 0, the demo upstream closed too')
})

t.test('demo on an address that is taken: exit 1, and the demo upstream does not keep the process alive', async (t) => {
  const first = await startCli(t, ['start', '--port', '0'], { cwd: tempDir(t) })
  const port = new URL(first.url).port
  const second = await run(['start', '--port', port], { cwd: tempDir(t) })
  t.equal(second.code, 1)
  t.match(second.stderr, `cannot listen on 127.0.0.1:${port}: the address is already in use`)
  first.child.kill('SIGTERM')
  t.same(await first.exited, { code: 0, signal: null })
})

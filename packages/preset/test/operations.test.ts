import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { jwksServer } from '../../jwt-auth/test/helpers/jwks-server.js'
import { BIN, run, startCli } from './helpers/cli.js'
import { keys, tempDir, upstream, writeJson } from './helpers/fixtures.js'

// Operator details (issue 12 point 7): the listening line at every level, the
// key sources start waits for, check --strict, reload --pid-file, and a
// shutdown that does not hang when stdout's reader has gone.

t.setTimeout(180_000)

function status (url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false }, (res) => { res.resume(); res.on('end', () => resolve(res.statusCode ?? 0)) })
    req.on('error', reject)
    req.end()
  })
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('the listening line is logged at logLevel error; start names the key sources it waits for', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const quiet = writeJson(join(dir, 'quiet.json'), { server: { port: 0, logLevel: 'error' }, jwt: false, routes: [{ prefix: '/', upstream: up }] })
  const gw = await startCli(t, ['start', '--config', quiet], { timeout: 30_000 })
  t.match(gw.stdout(), /"msg":"fastify-jwt-gateway listening on http:\/\/127\.0\.0\.1:\d+"/)
  gw.child.kill('SIGTERM')
  await gw.exited

  const { set } = keys(dir)
  const srv = await jwksServer(t, { '/jwks.json': { json: { keys: [set.p256.jwk] } } })
  const remote = writeJson(join(dir, 'remote.json'), { server: { port: 0 }, jwt: { keys: [{ jwks: srv.url('/jwks.json?tenant=a') }] }, routes: [{ prefix: '/', upstream: up }] })
  const gw2 = await startCli(t, ['start', '--config', remote], { timeout: 30_000 })
  const waiting = gw2.logs().find((l) => typeof l.msg === 'string' && l.msg.startsWith('waiting for'))
  t.same(waiting?.keySources, [`jwks ${srv.url('/jwks.json')}`], 'named without the query string')
  t.equal(waiting?.msg, `waiting for 1 key source: jwks ${srv.url('/jwks.json')}`)
  gw2.child.kill('SIGTERM')
  await gw2.exited
})

// `start | head -1`, then SIGTERM. pino's destination flushes synchronously
// on exit and retried a write failing with EPIPE every 100 ms for ever: a
// shutdown with a log line still queued never ended (start.ts guardExitFlush).
// The shell waits for every command of a pipeline, so the test knows head is
// gone from a line written once head has exited and the reading side's stdin
// is closed; the gateway's exit status goes to a file.
// The gateway runs as users run it: `env -u NODE_OPTIONS`, because tap's
// process tracker puts itself back into every child's NODE_OPTIONS, and its
// signal-exit re-raises SIGTERM: a second signal, on which close-with-grace
// exits at once, before the asynchronous EPIPE of the "received" line said
// that stdout was gone, and pino's exit flush spun (the lines now go out with
// a synchronous write; a gateway under tap's tracker exits 0 by hand, where it
// hung). A second-signal exit is a case of its own below: a request held
// in flight by a slow upstream keeps the graceful close waiting, and the
// second SIGTERM ends it at once.
const cases = [
  { name: '0 requests before: the gateway exits 0', requests: 0, secondSignal: false, code: '0' },
  { name: '2 requests before: the gateway exits 0', requests: 2, secondSignal: false, code: '0' },
  { name: 'a request in flight and a second SIGTERM: the gateway exits 1 at once', requests: 1, secondSignal: true, code: '1' },
  // The first SIGTERM raises a second one at once (a preloaded handler).
  { name: 'a second SIGTERM raised at once by a preloaded handler: the gateway exits 1', requests: 1, secondSignal: false, reraise: true, code: '1' }
]
for (const c of cases) {
  t.test(`SIGTERM after the stdout reader has gone (start | head -1), ${c.name}`, async (t) => {
    const dir = tempDir(t)
    const up = await upstream(t)
    const slow = await slowUpstream(t)
    const file = writeJson(join(dir, 'gateway.json'), { server: { port: 0, logLevel: 'info' }, jwt: false, routes: [{ prefix: '/slow', upstream: slow.url }, { prefix: '/', upstream: up }] })
    const rc = join(dir, 'rc')
    const preload = join(dir, 'reraise.mjs')
    writeFileSync(preload, "process.on('SIGTERM', () => process.kill(process.pid, 'SIGTERM'))\n")
    const gateway = `env -u NODE_OPTIONS "${process.execPath}" ${c.reraise === true ? `--import "${pathToFileURL(preload).href}" ` : ''}"${BIN}" start --config "${file}"`
    const sh = spawn('sh', ['-c', `{ ${gateway}; echo $? > "${rc}"; } | { head -1; exec 0<&-; echo head-exited; }`], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const shDone = new Promise((resolve) => sh.on('exit', resolve))
    await new Promise<void>((resolve) => sh.stdout.on('data', (d) => {
      out += d
      if (out.includes('head-exited\n')) resolve()
    }))
    const [line, rest] = out.split('\n')
    t.equal(rest, 'head-exited', 'head let one line through')
    const first = JSON.parse(line as string)
    t.match(first.msg, /^fastify-jwt-gateway listening on /)
    const pid = first.pid as number
    t.teardown(() => { if (alive(pid)) process.kill(pid, 'SIGKILL') })
    const url = (/on (http:\S+)/.exec(first.msg) as RegExpExecArray)[1] as string
    // Requests make log lines that now fail with EPIPE.
    for (let i = 0; i < c.requests; i++) t.equal(await status(`${url}/x${i}`), 200)
    if (c.secondSignal) {
      const held = status(`${url}/slow`).catch(() => 0)
      await slow.requested
      process.kill(pid, 'SIGTERM')
      await new Promise((resolve) => setTimeout(resolve, 300))
      t.ok(alive(pid), 'the first SIGTERM waits for the request in flight')
      process.kill(pid, 'SIGTERM')
      await held
    } else process.kill(pid, 'SIGTERM')
    // Bounded by the grace period (10 s) and a margin; it used to hang until SIGKILL.
    for (let i = 0; i < 150 && alive(pid); i++) await new Promise((resolve) => setTimeout(resolve, 100))
    t.notOk(alive(pid), 'the gateway exited')
    await shDone
    t.equal(readFileSync(rc, 'utf8'), `${c.code}\n`, `with status ${c.code}`)
  })
}

/** An upstream that takes a request and never answers it (until the test ends). */
async function slowUpstream (t: Test): Promise<{ url: string, requested: Promise<void> }> {
  let requested!: () => void
  const got = new Promise<void>((resolve) => { requested = resolve })
  const srv = createServer(() => requested())
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { srv.closeAllConnections(); srv.close() })
  const { port } = srv.address() as AddressInfo
  return { url: `http://127.0.0.1:${port}`, requested: got }
}

t.test('check --strict fails on warnings: an issuer whose discovery document names another issuer (trailing slash)', async (t) => {
  const dir = tempDir(t)
  const { set } = keys(dir)
  const srv = await jwksServer(t, { '/jwks.json': { json: { keys: [set.p256.jwk] } } })
  srv.route('/idp/.well-known/openid-configuration').json = { issuer: `${srv.origin}/idp/`, jwks_uri: srv.url('/jwks.json') }
  const file = writeJson(join(dir, 'gateway.json'), { jwt: { keys: [{ issuer: `${srv.origin}/idp` }] }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] })
  const [plain, strict] = await Promise.all([run(['check', '--config', file]), run(['check', '--strict', '--config', file])])
  const warning = `issuer ${srv.origin}/idp: discovery: "issuer" is "${srv.origin}/idp/", expected exactly "${srv.origin}/idp"`
  t.equal(plain.code, 0, plain.stderr)
  t.match(plain.stdout, `warning: ${warning}\n`)
  t.equal(strict.code, 1)
  t.equal(strict.stderr, `fastify-jwt-gateway: ${file}: 1 warning, refused by --strict\n  ${warning}\n`)
  t.notMatch(strict.stdout, /configuration OK/)
})

t.test('check prints the policies\' start-up warnings and --strict refuses them (expiry not checked, a short secret)', async (t) => {
  const dir = tempDir(t)
  const file = writeJson(join(dir, 'gateway.json'), { jwt: { secret: 'sixteen-bytes-ok', validateExp: false }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] })
  const [plain, strict] = await Promise.all([run(['check', '--config', file]), run(['check', '--strict', '--config', file])])
  const warnings = [
    '"secret" is 16 bytes, shorter than the 32-byte hash output of HS256 (RFC 7518 §3.2): use at least 32 random bytes',
    '"validateExp": false — expired tokens are accepted'
  ]
  t.equal(plain.code, 0, plain.stderr)
  t.equal(plain.stdout, `${warnings.map((w) => `warning: ${w}\n`).join('')}${file}: configuration OK (1 route, 1 key source)\n`)
  t.equal(strict.code, 1)
  // (Node prints each process warning on stderr too, before.)
  t.ok(strict.stderr.endsWith(`fastify-jwt-gateway: ${file}: 2 warnings, refused by --strict\n${warnings.map((w) => `  ${w}\n`).join('')}`), strict.stderr)
  t.equal(strict.stdout, warnings.map((w) => `warning: ${w}\n`).join(''), 'the warnings, and no "configuration OK"')
})

t.test('start --pid-file and reload --pid-file: the config is reloaded, the pid file removed on exit', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const file = join(dir, 'gateway.json')
  const pidFile = join(dir, 'fjg.pid')
  writeJson(file, { server: { port: 0 }, jwt: false, routes: [{ prefix: '/a', upstream: up }] })
  const gw = await startCli(t, ['start', '--config', file, '--pid-file', pidFile], { timeout: 30_000 })
  t.equal(readFileSync(pidFile, 'utf8'), `${gw.child.pid}\n`)
  writeJson(file, { server: { port: 0 }, jwt: false, routes: [{ prefix: '/b', upstream: up }] })
  const sent = await run(['reload', '--pid-file', pidFile])
  t.equal(sent.code, 0, sent.stderr)
  t.equal(sent.stdout, `sent SIGHUP to ${gw.child.pid}: the gateway reloads its config (its log says whether it took it)\n`)
  await gw.waitFor((l) => l.includes('is now served'), 30_000)
  t.equal(await status(`${gw.url}/b/x`), 200)
  gw.child.kill('SIGTERM')
  t.same(await gw.exited, { code: 0, signal: null })
  t.notOk(existsSync(pidFile), 'removed on exit')
  const stale = await run(['reload', '--pid-file', pidFile])
  t.equal(stale.code, 1)
  t.equal(stale.stderr, `fastify-jwt-gateway: cannot read the pid file '${pidFile}': ENOENT\n`)
})

// A supervisor may stop the gateway the moment it reads the listening line.
// Until handleSignals runs, a SIGTERM took the default action (killed, 143);
// now it waits those few ticks and closes gracefully. A preload holds the
// process for 500 ms right after that line is written, so the window is wide.
t.test('SIGTERM as soon as the listening line is out: a graceful close, exit 0', async (t) => {
  const dir = tempDir(t)
  const up = await upstream(t)
  const file = writeJson(join(dir, 'gateway.json'), { server: { port: 0, logLevel: 'info' }, jwt: false, routes: [{ prefix: '/', upstream: up }] })
  const preload = join(dir, 'hold.mjs')
  writeFileSync(preload, [
    "import fs from 'node:fs'",
    'const write = fs.writeSync',
    'fs.writeSync = function (fd, data, ...rest) {',
    '  const n = write.call(this, fd, data, ...rest)',
    "  if (fd === 1 && String(data).includes('listening on')) { const until = Date.now() + 500; while (Date.now() < until); }",
    '  return n',
    '}',
    ''
  ].join('\n'))
  // `env -u NODE_OPTIONS`: tap's tracker would put itself back, and its signal-exit handler (above).
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', pathToFileURL(preload).href, BIN, 'start', '--config', file], {
    stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])))
  let out = ''
  let sent = false
  child.stdout.on('data', (d) => {
    out += d
    if (!sent && out.includes('listening on')) {
      sent = true
      child.kill('SIGTERM')
    }
  })
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000)
  const [code, signal] = await exited
  clearTimeout(timer)
  t.ok(sent, 'the signal was sent on the listening line')
  t.same([code, signal], [0, null], 'exit 0, not killed by the signal')
  t.match(out, /SIGTERM received: closing/, 'the graceful close ran')
  t.match(out, /"msg":"closed"/)
})

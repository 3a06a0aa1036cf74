import t from 'tap'
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'

// What a user gets from npm: the three packages packed (`pnpm pack`, which
// turns `workspace:*` into versions), installed with plain npm into an empty
// folder outside the workspace, then used there: tarball contents and README
// links, `npx fastify-jwt-gateway check`, and the demo's curl lines as printed.
// Needs the npm registry for the third-party dependencies (--prefer-offline
// uses npm's cache when it can). Slow by nature: its own generous timeout.

t.setTimeout(900_000)

const run = promisify(execFile)
const ROOT = resolve(__dirname, '../../..')
const PACKAGES = ['jwt-auth', 'gateway', 'preset']
const REPO = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { repository: { url: string } }).repository.url
  .replace(/^git\+/, '').replace(/\.git$/, '')
const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }

const dir = mkdtempSync(join(tmpdir(), 'fjg-pack-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const app = join(dir, 'app')

t.test('pack, install from the tarballs, use', async (t) => {
  const tarballs: string[] = []
  for (const p of PACKAGES) {
    const { stdout } = await run('npx', ['-y', 'pnpm@12.21.0', 'pack', '--pack-destination', dir], { cwd: join(ROOT, 'packages', p), env })
    const tgz = stdout.trim().split('\n').pop() as string
    t.match(tgz, /\.tgz$/, `${p} packed`)
    tarballs.push(tgz)
  }

  t.test('tarball contents: licence, README, every doc a README links to, no tests', async (t) => {
    for (const [i, p] of PACKAGES.entries()) {
      const { stdout } = await run('tar', ['tzf', tarballs[i] as string])
      const files = new Set(stdout.trim().split('\n').map((f) => f.replace(/^package\//, '')))
      for (const f of ['LICENSE', 'README.md', 'package.json', 'dist/index.js', 'dist/index.d.ts']) t.ok(files.has(f), `${p}: ${f}`)
      if (p !== 'preset') for (const f of ['dist/index.mjs', 'dist/index.d.mts']) t.ok(files.has(f), `${p}: ${f} (the ESM entry)`)
      t.notOk([...files].some((f) => f.startsWith('test/') || f.startsWith('src/')), `${p}: no tests or sources`)
      const manifest = JSON.parse((await run('tar', ['xzOf', tarballs[i] as string, 'package/package.json'])).stdout)
      t.equal(manifest.license, 'MIT')
      t.equal(manifest.repository.url, `git+${REPO}.git`, `${p}: repository`)
      t.equal(manifest.repository.directory, `packages/${p}`)
      t.ok(manifest.homepage.startsWith(REPO), `${p}: homepage`)
      t.notMatch(JSON.stringify(manifest), /workspace:/, `${p}: no workspace: ranges left`)
      // README links: an anchor, an absolute URL, or a file that is in the tarball.
      const readme = readFileSync(join(ROOT, 'packages', p, 'README.md'), 'utf8')
      for (const m of readme.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] as string
        if (target.startsWith('#') || /^https?:\/\//.test(target)) continue
        t.ok(files.has(target.replace(/#.*$/, '')), `${p}: README link ${target} is in the tarball`)
      }
      t.notMatch(readme, /DESIGN\.md|\bthe issue\b/, `${p}: README names no file users do not have`)
    }
    const gateway = JSON.parse((await run('tar', ['xzOf', tarballs[1] as string, 'package/package.json'])).stdout)
    t.notOk(gateway.dependencies.fastify, 'gateway: fastify is not a dependency')
    t.ok(gateway.peerDependencies.fastify, 'gateway: fastify is a peer dependency')
  })

  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'fjg-pack-app', private: true }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error', ...tarballs], { cwd: app, env, maxBuffer: 16 * 1024 * 1024 })
  t.pass('npm installed the three tarballs')

  t.test('npx fastify-jwt-gateway check', async (t) => {
    writeFileSync(join(app, 'gateway.json'), JSON.stringify({
      $schema: './node_modules/fastify-jwt-gateway/schema.json',
      server: { host: '127.0.0.1', port: 8080, logLevel: 'info' },
      // eslint-disable-next-line no-template-curly-in-string
      jwt: { secret: '${JWT_SECRET}', issuer: 'https://issuer.example' },
      routes: [
        { prefix: '/api', upstream: 'http://127.0.0.1:9000', rewritePrefix: '/api', jwt: { claimsToHeaders: { 'x-user-id': 'sub' } } },
        { prefix: '/', upstream: 'http://127.0.0.1:9000', jwt: false }
      ]
    }))
    const ok = await run('npx', ['fastify-jwt-gateway', 'check', '--config', 'gateway.json'], { cwd: app, env: { ...env, JWT_SECRET: 'change-me-to-32-bytes-or-more-of-random' } })
    t.equal(ok.stdout, 'gateway.json: configuration OK (2 routes, 1 key source)\n')
    const { JWT_SECRET: _unset, ...without } = env
    const missing = await run('npx', ['fastify-jwt-gateway', 'check', '--config', 'gateway.json'], { cwd: app, env: without })
      .then(() => null, (err: { code: number, stderr: string }) => err)
    t.equal(missing?.code, 1, 'a missing variable: exit 1')
    t.match(missing?.stderr, 'jwt.secret: environment variable JWT_SECRET is not set')
    // `start` without --config would pick ./gateway.json up; the demo below needs none.
    rmSync(join(app, 'gateway.json'))
  })

  t.test('the demo: its curl lines work as printed', async (t) => {
    const child = spawn('npx', ['fastify-jwt-gateway', 'start', '--port', '0'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    // npx → node: kill the whole process group so nothing outlives the test.
    t.teardown(() => { try { process.kill(-(child.pid as number), 'SIGKILL') } catch {} })
    let out = ''
    const banner = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no demo banner:\n${out}`)), 120_000)
      child.stdout.on('data', (d) => {
        out += d
        if (out.includes('Your own config:')) { clearTimeout(timer); resolve(out) }
      })
      child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`the demo exited (${code}):\n${out}`)) })
    })
    const curls = banner.split('\n').filter((l) => l.trim().startsWith('curl ')).map((l) => l.trim())
    t.equal(curls.length, 3, 'three curl lines')
    const expected = [200, 401, 200]
    for (const [i, line] of curls.entries()) {
      // As printed, through a shell; -s and -o /dev/null -w keep only the status.
      const { stdout } = await run('sh', ['-c', `${line.replace(/^curl -i /, 'curl -s -o /dev/null -w "%{http_code}" ')}`])
      t.equal(Number(stdout), expected[i], line.slice(0, 60))
    }
  })
})

t.test('the installed packages import as ESM and CommonJS', async (t) => {
  const esm = await run(process.execPath, ['--input-type=module', '-e', [
    "import jwtAuth, { jwtAuth as named } from '@fastify-jwt-gateway/jwt-auth'",
    "import gateway, { gatewayPlugin } from '@fastify-jwt-gateway/gateway'",
    "import { start, check } from 'fastify-jwt-gateway'",
    'console.log(typeof jwtAuth, jwtAuth === named, gateway === gatewayPlugin, typeof start, typeof check)'
  ].join('\n')], { cwd: app, env })
  t.equal(esm.stdout, 'function true true function function\n')
  const cjs = await run(process.execPath, ['-e', [
    "const { jwtAuth } = require('@fastify-jwt-gateway/jwt-auth')",
    "const { gatewayPlugin } = require('@fastify-jwt-gateway/gateway')",
    "console.log(typeof jwtAuth, typeof gatewayPlugin, typeof require('fastify-jwt-gateway').start)"
  ].join('\n')], { cwd: app, env })
  t.equal(cjs.stdout, 'function function function\n')
})

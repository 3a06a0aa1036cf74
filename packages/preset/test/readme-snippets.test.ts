import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { parseArgs } from 'node:util'
import * as ts from 'typescript'
import { gatewayConfigProblems } from '@fastify-jwt-gateway/gateway'
import { check } from '../src/index.js'
import { COMMANDS, GLOBAL_OPTIONS, parseArgsOptions } from '../src/help.js'
import { generateKeySet, sign } from '../../jwt-auth/test/helpers/keys.js'
import { jwksServer } from '../../jwt-auth/test/helpers/jwks-server.js'
import { makePki } from '../../jwt-auth/test/helpers/pki.js'
import { consumerProject } from '../../jwt-auth/test/helpers/consumer-project.js'
import { upstream } from './helpers/fixtures.js'
import { extractSnippets, headingAnchors, markdownLinks, shellWords, stripJsonComments, type Snippet } from './helpers/snippets.js'

// The documentation's code blocks are checked as a reader would use them
// (markers and kinds: helpers/snippets.ts). JSON configs pass `check`; JS and
// TS blocks are type-checked (strict, `module: nodenext`) in a project outside
// the workspace that resolves our built packages (dist/) by name, and the
// blocks marked `run` are run against real servers; shell blocks parse, and
// their `fastify-jwt-gateway` lines parse with the command's options. Links
// must work where the file is read: inside a package's tarball for a package's
// docs (npm shows the README there), in the repository for the root README.

/** The type of a subtest's `t`. */
type T = Parameters<Parameters<typeof t.test>[0]>[0]

// tsc and a few child processes on a loaded 2-core machine.
t.setTimeout(600_000)

const ROOT = resolve(__dirname, '../../..')
const DOCS = [
  'README.md',
  'examples/deploy/README.md',
  'packages/jwt-auth/README.md',
  'packages/jwt-auth/docs/live-sources.md',
  'packages/gateway/README.md',
  'packages/preset/README.md'
]
const SECRET = 'a-snippet-test-secret-of-more-than-32-bytes'

const all: Snippet[] = []
const markerProblems: string[] = []
for (const doc of DOCS) {
  const found = extractSnippets(doc, readFileSync(join(ROOT, doc), 'utf8'))
  all.push(...found.snippets)
  markerProblems.push(...found.problems)
}
const where = (s: Snippet): string => `${s.doc}:${s.line}`
const of = (...kinds: string[]): Snippet[] => all.filter((s) => kinds.includes(s.kind))

t.test('the documentation has snippets, and every marker is understood', async (t) => {
  t.same(markerProblems, [], 'no marker problems')
  const checked = all.filter((s) => s.kind !== 'fragment')
  // Without this a broken extractor (or a renamed README) would pass vacuously.
  t.ok(checked.length >= 10, `${checked.length} checked snippets (at least 10)`)
  for (const lang of ['js', 'json', 'sh'] as const) t.ok(checked.some((s) => s.lang === lang), `some ${lang} snippets are checked`)
  const fragments = of('fragment').map(where)
  t.comment(`${all.length} snippets: ${checked.length} checked, ${fragments.length} fragments not checked:\n  ${fragments.join('\n  ')}`)
})

t.test('links work where the document is read, and nothing names files users do not have', async (t) => {
  const bad: string[] = []
  for (const doc of DOCS) {
    const text = readFileSync(join(ROOT, doc), 'utf8')
    for (const m of text.matchAll(/DESIGN\.md|\bthe issue\b|\bissues? \d+\b/gi)) {
      bad.push(`${doc}:${text.slice(0, m.index).split('\n').length}: '${m[0]}' (users have no such document)`)
    }
    const pkg = /^packages\/[^/]+/.exec(doc)?.[0] ?? null
    const files: string[] | null = pkg === null ? null : JSON.parse(readFileSync(join(ROOT, pkg, 'package.json'), 'utf8')).files
    for (const { line, target } of markdownLinks(text)) {
      if (/^[a-z]+:/i.test(target)) continue
      const [path, anchor] = target.split('#') as [string, string | undefined]
      const file = path === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), path)
      if (!existsSync(file)) { bad.push(`${doc}:${line}: ${target}: no such file`); continue }
      if (pkg !== null && path !== '') {
        const inside = relative(join(ROOT, pkg), file)
        const shipped = !inside.startsWith('..') && files !== null && files.some((f) => inside === f || inside.startsWith(f + sep))
        if (!shipped) bad.push(`${doc}:${line}: ${target}: not in the package's tarball (\`files\`): link to the repository instead`)
      }
      if (anchor !== undefined && !statSync(file).isDirectory() && file.endsWith('.md') && !headingAnchors(readFileSync(file, 'utf8')).has(anchor)) {
        bad.push(`${doc}:${line}: ${target}: no heading for #${anchor}`)
      }
    }
  }
  t.same(bad, [], 'every link resolves')
})

/** Env for every `${NAME}` of a config, so that `check` sees set variables. */
function placeholderEnv (text: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env }
  for (const m of text.matchAll(/(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g)) env[m[1] as string] = SECRET
  return env
}

/** The files a config names (key, revocation and TLS files), made real in `dir`. */
function provideFiles (t: T, dir: string, config: Record<string, any>): void {
  const keys = generateKeySet()
  let pki: ReturnType<typeof makePki> | null = null
  const write = (path: string, content: string): void => {
    const file = resolve(dir, path)
    mkdirSync(dirname(file), { recursive: true })
    if (!existsSync(file)) writeFileSync(file, content)
  }
  const policy = (jwt: any): void => {
    if (jwt === null || typeof jwt !== 'object') return
    for (const k of jwt.keys ?? []) {
      if (typeof k.file === 'string') write(k.file, k.file.endsWith('.pem') ? keys.rsa.publicPem as string : JSON.stringify({ keys: [keys.rsa.jwk] }))
    }
    for (const kind of ['sub', 'kid', 'jti']) if (typeof jwt.revocation?.[kind] === 'string') write(jwt.revocation[kind], '[]')
  }
  policy(config.jwt)
  for (const route of config.routes ?? []) policy(route.jwt)
  const tls = config.server?.tls
  if (tls !== undefined) {
    pki ??= makePki(t)
    const server = pki.server('snippet-server')
    write(tls.cert, server.cert)
    write(tls.key, server.key)
    if (tls.ca !== undefined) write(tls.ca, pki.ca.cert)
  }
}

function parseJson (s: Snippet): any {
  return JSON.parse(s.lang === 'jsonc' ? stripJsonComments(s.code) : s.code)
}

t.test('JSON configs pass check; policies and routes validate inside a config', async (t) => {
  for (const s of of('config')) {
    await t.test(`${where(s)}: gateway.json`, async (t) => {
      const dir = mkdtempSync(join(tmpdir(), 'fjg-snippet-config-'))
      t.teardown(() => rmSync(dir, { recursive: true, force: true }))
      const file = join(dir, 'gateway.json')
      writeFileSync(file, s.lang === 'jsonc' ? stripJsonComments(s.code) : s.code)
      provideFiles(t, dir, parseJson(s))
      const result = await check(file, placeholderEnv(s.code))
      t.equal(result.routes, parseJson(s).routes.length, 'check accepts it')
    })
  }
  const shell = { jwt: { secret: SECRET }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] }
  for (const s of of('policy')) {
    t.same(gatewayConfigProblems({ ...shell, jwt: parseJson(s) }), [], `${where(s)}: a valid policy`)
  }
  for (const s of of('route')) {
    t.same(gatewayConfigProblems({ ...shell, routes: [parseJson(s)] }), [], `${where(s)}: a valid route`)
  }
})

t.test('shell snippets parse, and their fastify-jwt-gateway lines parse with the command\'s options', async (t) => {
  for (const s of of('shell')) {
    const syntax = spawnSync('bash', ['-n'], { input: s.code, encoding: 'utf8' })
    t.equal(syntax.stderr, '', `${where(s)}: bash -n`)
    const lines = s.code.replace(/\\\n/g, ' ').split('\n')
    lines.forEach((line, i) => {
      const words = shellWords(line)
      for (let w = 0; w < words.length; w++) {
        const word = words[w] as string
        const before = w === 0 ? null : words[w - 1] as string
        // The command itself, not the package name (`npm install fastify-jwt-gateway`).
        if (!word.endsWith('fastify-jwt-gateway') || !(before === null || before === 'npx' || before === '-y' || /^\w+=/.test(before))) continue
        const [command, ...args] = words.slice(w + 1)
        const at = `${s.doc}:${s.line + 1 + i}: fastify-jwt-gateway ${command ?? ''}`
        try {
          const spec = command === undefined || command.startsWith('-') ? null : COMMANDS[command as keyof typeof COMMANDS]
          if (spec === undefined) throw new Error(`no command '${command ?? ''}'`)
          parseArgs({ args: spec === null ? words.slice(w + 1) : args, options: parseArgsOptions(spec === null ? GLOBAL_OPTIONS : spec.options), allowPositionals: true, strict: true })
          t.pass(at)
        } catch (err) {
          t.fail(`${at}: ${(err as Error).message}`)
        }
        break
      }
    })
  }
})

/** A folder outside the workspace whose node_modules resolve our built packages, as after `npm install`. */
function project (t: T): string {
  return consumerProject(t, 'snippets', 'module', {
    '@fastify-jwt-gateway/jwt-auth': 'packages/jwt-auth',
    '@fastify-jwt-gateway/gateway': 'packages/gateway',
    'fastify-jwt-gateway': 'packages/preset',
    fastify: 'packages/preset/node_modules/fastify',
    '@types/node': 'node_modules/@types/node'
  })
}

/** The file a JS/TS snippet is saved as: ESM unless it is CommonJS throughout (then top-level await is an error, as in Node). */
function fileName (s: Snippet, i: number): string {
  if (s.lang === 'ts') return `snippet-${i}.mts`
  return /\brequire\(/.test(s.code) && !/^\s*import\s/m.test(s.code) ? `snippet-${i}.cjs` : `snippet-${i}.mjs`
}

const COMPILER_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  moduleDetection: ts.ModuleDetectionKind.Force,
  strict: true,
  allowJs: true,
  checkJs: true,
  noEmit: true,
  skipLibCheck: true,
  types: ['node']
}

/** A type checker for snippets saved in `dir`: one program per snippet (a `declare module` augmentation must not leak into the others), sharing the parsed declaration files. */
function typeChecker (dir: string): (s: Snippet, i: number) => string[] {
  const host = ts.createCompilerHost(COMPILER_OPTIONS)
  const cache = new Map<string, ts.SourceFile | undefined>()
  const getSourceFile = host.getSourceFile.bind(host)
  host.getSourceFile = (name, lang, onError, create) => {
    if (name.startsWith(dir + '/snippet-')) return getSourceFile(name, lang, onError, create)
    if (!cache.has(name)) cache.set(name, getSourceFile(name, lang, onError, create))
    return cache.get(name)
  }
  return (s, i) => {
    const file = join(dir, fileName(s, i))
    writeFileSync(file, s.code)
    const program = ts.createProgram([file], COMPILER_OPTIONS, host)
    return ts.getPreEmitDiagnostics(program).filter((d) => d.file === undefined || d.file.fileName === file).map((d) => {
      const text = ts.flattenDiagnosticMessageText(d.messageText, '\n')
      if (d.file === undefined || d.start === undefined) return `TS${d.code}: ${text}`
      const { line } = d.file.getLineAndCharacterOfPosition(d.start)
      return `${s.doc}:${s.line + 1 + line}: TS${d.code}: ${text}`
    })
  }
}

t.test('JS and TS snippets type-check (strict, nodenext) against the built packages', async (t) => {
  const dir = project(t)
  const typeErrors = typeChecker(dir)
  const snippets = all.filter((s) => (s.lang === 'js' || s.lang === 'ts') && s.kind !== 'fragment')
  t.ok(snippets.length > 0, 'there are JS/TS snippets to check')
  snippets.forEach((s, i) => {
    const ext = fileName(s, i).slice(fileName(s, i).indexOf('.'))
    if (ext === '.mjs' || ext === '.mts') t.notMatch(s.code, /\brequire\(/, `${where(s)}: an ES module does not call require()`)
    t.same(typeErrors(s, i), [], `${where(s)}: type-checks as ${ext}`)
  })

  // The mistakes this check is for are caught (so a pass above means something).
  const bad = (code: string, lang: 'js' | 'ts' = 'js'): Snippet => ({ doc: 'BAD.md', line: 1, lang, kind: 'module', name: null, code })
  const cjsAwait = typeErrors(bad("const { buildGateway } = require('@fastify-jwt-gateway/gateway')\nconst app = await buildGateway({ routes: [] })\nvoid app\n"), 1000)
  t.match(cjsAwait.join('\n'), /TS1309|TS1378|TS1375/, 'require() with top-level await is refused (a .js of a CommonJS project)')
  const nullable = typeErrors(bad("import Fastify from 'fastify'\nimport { jwtAuth } from '@fastify-jwt-gateway/jwt-auth'\nconst app = Fastify()\nawait app.register(jwtAuth, { secret: 'x' })\napp.get('/', async (request) => request.jwt.payload.sub)\n"), 1001)
  t.match(nullable.join('\n'), /TS18047/, 'request.jwt is possibly null under strict')
  const option = typeErrors(bad("import Fastify from 'fastify'\nimport { jwtAuth } from '@fastify-jwt-gateway/jwt-auth'\nawait Fastify().register(jwtAuth, { secret: 'x', leway: 30 })\n"), 1002)
  t.match(option.join('\n'), /leway/, 'an unknown option is refused')
})

t.test('the extractor reports markers it cannot apply', async (t) => {
  const doc = ['<!-- snippet: fragment -->', 'text', '', '<!-- snippet: config -->', '```nginx', 'x;', '```',
    '<!-- snippet: policy -->', '```js', 'x', '```', '<!-- snippet: run -->', '```js', 'x', '```', '```json', '{}', '```'].join('\n')
  const { snippets, problems } = extractSnippets('X.md', doc)
  t.same(problems, [
    'X.md:1: a snippet marker not followed by a code block',
    "X.md:4: a snippet marker on a 'nginx' block, which is not checked",
    "X.md:9: 'policy' is not a snippet kind for js (module, run, fragment)",
    "X.md:13: a 'run' snippet needs a scenario name"
  ])
  t.same(snippets.map((s) => `${s.line} ${s.lang} ${s.kind}`), ['9 js policy', '13 js run', '16 json config'], 'an unmarked json block is a config')
  t.same(extractSnippets('Y.md', 'no code here\n').snippets, [], 'no blocks, no snippets (the count above then fails)')
})

interface Running { lines: string[], next (match: RegExp): Promise<RegExpExecArray>, exited: Promise<number | null> }

/** Runs a snippet with node in `dir`; stopped (by its pid) when the test ends. */
function runSnippet (t: T, dir: string, code: string, env: NodeJS.ProcessEnv): Running {
  const file = join(dir, 'run.mjs')
  writeFileSync(file, code)
  const child = spawn(process.execPath, [file], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: string[] = []
  let stderr = ''
  let rest = ''
  const waiters: Array<() => void> = []
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n')
    rest = parts.pop() as string
    lines.push(...parts)
    for (const w of waiters.splice(0)) w()
  })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => {
    if (rest !== '') lines.push(rest)
    if (code !== 0 && stderr !== '') t.comment(`stderr: ${stderr}`)
    for (const w of waiters.splice(0)) w()
    resolve(code)
  }))
  const next = async (match: RegExp): Promise<RegExpExecArray> => {
    for (;;) {
      for (const line of lines) {
        const m = match.exec(line)
        if (m !== null) return m
      }
      if (child.exitCode !== null) throw new Error(`the snippet exited (${child.exitCode}) before printing ${match}: ${stderr}`)
      await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
  return { lines, next, exited }
}

/** The text a scenario changes in a snippet: it must be there, so a README edit cannot turn the change into a no-op. */
function replaced (t: T, s: Snippet, pairs: Array<[string, string]>): string {
  let code = s.code
  for (const [from, to] of pairs) {
    t.ok(code.includes(from), `${where(s)} contains ${from}`)
    code = code.split(from).join(to)
  }
  return code
}

const RUNS: Record<string, (t: T, s: Snippet, dir: string) => Promise<void>> = {
  // jwt-auth README, the first block: discovery → JWKS, a scope requirement, an open route.
  'jwt-auth-quickstart': async (t, s, dir) => {
    const keys = generateKeySet()
    const idp = await jwksServer(t, { '/jwks.json': { json: { keys: [keys.rsa.jwk] } } })
    const issuer = idp.url('')
    idp.route('/.well-known/openid-configuration').json = { issuer, jwks_uri: idp.url('/jwks.json') }
    const token = sign(keys.rsa, 'RS256', { iss: issuer, aud: 'api://orders', scope: 'orders:read profile', sub: 'alice' })
    const narrow = sign(keys.rsa, 'RS256', { iss: issuer, aud: 'api://orders', scope: 'profile', sub: 'alice' })
    const code = replaced(t, s, [["'https://login.example.com'", JSON.stringify(issuer)]]) + `
for (const [url, token] of [['/orders', null], ['/orders', process.env.TOKEN], ['/orders', process.env.NARROW], ['/health', null]]) {
  const res = await fastify.inject({ url, headers: token === null ? {} : { authorization: 'Bearer ' + token } })
  console.log(JSON.stringify({ url, status: res.statusCode, challenge: res.headers['www-authenticate'] ?? null, body: res.body }))
}
await fastify.close()
`
    const run = runSnippet(t, dir, code, { TOKEN: token, NARROW: narrow })
    t.equal(await run.exited, 0, 'exits 0')
    const answers = run.lines.filter((l) => l.startsWith('{"url"')).map((l) => JSON.parse(l))
    t.match(answers[0], { status: 401, challenge: 'Bearer realm="api"' }, 'no token: 401')
    t.equal(JSON.parse(answers[0].body).code, 'FJG_ERR_TOKEN_MISSING')
    t.same(answers[1], { url: '/orders', status: 200, challenge: null, body: '{"user":"alice"}' }, 'a token with the scope: 200')
    t.match(answers[2], { status: 403, challenge: /^Bearer realm="api", error="insufficient_scope"/ }, 'without the scope: 403')
    t.same(answers[3], { url: '/health', status: 200, challenge: null, body: 'ok' }, 'the open route')
  },
  // gateway README, the first block: a gateway over HS256 with an open and a protected route.
  'gateway-quickstart': async (t, s, dir) => {
    const origin = await upstream(t)
    const code = replaced(t, s, [['port: 8080', 'port: 0'], ['http://127.0.0.1:9000', origin]])
    const run = runSnippet(t, dir, code, { JWT_SECRET: SECRET })
    const [, url] = await run.next(/"msg":"Server listening at (http:\/\/127\.0\.0\.1:\d+)"/) as unknown as [string, string]
    const open = await fetch(`${url}/`)
    t.equal(open.status, 200, 'GET / passes through')
    await open.arrayBuffer()
    const anonymous = await fetch(`${url}/api/leads`)
    t.equal(anonymous.status, 401, 'GET /api/leads without a token: 401')
    t.equal(anonymous.headers.get('www-authenticate'), 'Bearer realm="api"')
    t.equal((await anonymous.json() as { code: string }).code, 'FJG_ERR_TOKEN_MISSING')
    const token = sign({ name: 'hmac', kid: '', signingKey: SECRET, publicPem: null, jwk: {}, privateKey: null }, 'HS256', { sub: 'alice', iss: 'https://issuer.example' }, { kid: null })
    const ok = await fetch(`${url}/api/leads`, { headers: { authorization: `Bearer ${token}` } })
    t.equal(ok.status, 200, 'with a token: 200')
    const echoed = await ok.json() as { url: string, headers: Record<string, string> }
    t.equal(echoed.url, '/api/leads', 'the upstream got the path')
    t.equal(echoed.headers['x-user-id'], 'alice', 'the upstream got x-user-id')
  },
  // preset README, "From code": start and check from a program, with section 2's gateway.json.
  'preset-from-code': async (t, s, dir) => {
    const config = all.find((c) => c.name === 'preset-gateway-json')
    if (config === undefined) { t.fail('the preset README has the gateway.json snippet named preset-gateway-json'); return }
    writeFileSync(join(dir, 'gateway.json'), config.code)
    const run = runSnippet(t, dir, s.code, { JWT_SECRET: SECRET })
    t.equal(await run.exited, 0, 'exits 0: started, closed, checked')
    t.ok(run.lines.some((l) => /^http:\/\/127\.0\.0\.1:\d+$/.test(l)), 'printed the URL it listened on')
  }
}

t.test('the snippets marked run start and answer', async (t) => {
  const runs = of('run')
  t.same(runs.map((s) => s.name).sort(), Object.keys(RUNS).sort(), 'every scenario has its snippet, every run snippet its scenario')
  for (const s of runs) {
    const scenario = RUNS[s.name as string]
    if (scenario === undefined) continue
    await t.test(`${where(s)}: ${s.name}`, async (t) => {
      const dir = project(t)
      cpSync(join(ROOT, 'packages/preset/schema.json'), join(dir, 'schema.json'))
      await scenario(t, s, dir)
    })
  }
})

import t from 'tap'
import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { consumerProject, ROOT } from './helpers/consumer-project.js'

// What a service author's TypeScript sees: two small consumer projects (ESM
// under `module: nodenext`, and CommonJS), strict, outside the workspace, that
// import the built packages (dist/, as npm ships them) by name. Each file holds
// type assertions (expect-type) and @ts-expect-error lines: a regression in
// the published types makes `tsc` fail, and so this test. The same files are
// then run, so the import forms that type-check are the ones that work.

/** The type of a subtest's `t`. */
type T = Parameters<Parameters<typeof t.test>[0]>[0]

// tsc on a loaded 2-core CI machine: far more than the 60 s default per file.
t.setTimeout(600_000)

const run = promisify(execFile)
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc')

/** A folder outside the workspace with node_modules linked to the built packages and their peers. */
function project (t: T, type: 'module' | 'commonjs'): string {
  const dir = consumerProject(t, `consumer-${type}`, type, {
    '@fastify-jwt-gateway/jwt-auth': 'packages/jwt-auth',
    '@fastify-jwt-gateway/gateway': 'packages/gateway',
    fastify: 'packages/jwt-auth/node_modules/fastify',
    'expect-type': 'node_modules/expect-type',
    '@types/node': 'node_modules/@types/node'
  })
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      strict: true,
      outDir: 'out',
      // skipLibCheck as most projects set it (pino's own .d.ts needs allowSyntheticDefaultImports otherwise).
      skipLibCheck: true,
      esModuleInterop: type === 'commonjs',
      types: ['node']
    },
    include: ['src']
  }))
  mkdirSync(join(dir, 'src'))
  return dir
}

// Shared by both projects: the declared payload type, Readonly request.jwt.
const ASSERTIONS = `
declare module '@fastify-jwt-gateway/jwt-auth' {
  interface FastifyJwtAuth {
    payload: { sub: string, roles: string[], tenant?: string }
  }
}

export async function build () {
  const app = Fastify()
  const policy: JwtPolicy = { secret: 'a-development-secret-of-32-bytes!', requireClaims: [{ claim: 'roles', op: 'intersect', value: ['admin'] }] }
  // @ts-expect-error: unknown operator
  const bad: JwtPolicy = { requireClaims: [{ claim: 'x', op: 'like' }] }
  void bad
  await app.register(jwtAuth, policy)
  await app.register(async (child) => {
    await child.register(named, { secret: 'another-development-secret-32by!' })
  })
  await app.register(gateway, { routes: [{ prefix: '/api', upstream: 'http://127.0.0.1:9', jwt: false }] })
  await app.register(async (child) => {
    await child.register(gatewayNamed, { server: { healthPath: '/v2/health', readyPath: '/v2/ready', metricsPath: false }, routes: [{ prefix: '/v2', upstream: 'http://127.0.0.1:9', jwt: false }] })
  })
  app.get('/me', async (request) => {
    expectTypeOf(request.jwt).toEqualTypeOf<VerifiedJwt | null>()
    if (request.jwt === null) return { anonymous: true }
    expectTypeOf(request.jwt.payload.sub).toEqualTypeOf<string>()
    expectTypeOf(request.jwt.payload.roles).toEqualTypeOf<string[]>()
    expectTypeOf(request.jwt.payload.tenant).toEqualTypeOf<string | undefined>()
    expectTypeOf(request.jwt.payload).toEqualTypeOf<Readonly<JwtPayload>>()
    expectTypeOf(request.jwt.token).toEqualTypeOf<string>()
    // @ts-expect-error: request.jwt is readonly
    request.jwt.payload = { sub: 'x', roles: [] }
    // @ts-expect-error: so is its payload
    request.jwt.payload.sub = 'mallory'
    // @ts-expect-error: not a declared claim
    void request.jwt.payload.email
    return { sub: request.jwt.payload.sub }
  })
  expectTypeOf(app.jwtAuth.keyStatus).returns.toBeArray()
  await app.ready()
  return app
}
`

const ESM = `import Fastify from 'fastify'
import { expectTypeOf } from 'expect-type'
import jwtAuth, { jwtAuth as named, errors, type JwtPolicy, type JwtPayload, type VerifiedJwt } from '@fastify-jwt-gateway/jwt-auth'
import gateway, { gatewayPlugin as gatewayNamed, buildGateway } from '@fastify-jwt-gateway/gateway'
import * as ns from '@fastify-jwt-gateway/jwt-auth'

expectTypeOf(jwtAuth).toEqualTypeOf(named)
expectTypeOf(ns.default).toEqualTypeOf(named)
expectTypeOf(gateway).toEqualTypeOf(gatewayNamed)
expectTypeOf(errors.FJG_ERR_TOKEN_MISSING).toBeConstructibleWith()
expectTypeOf(buildGateway).returns.resolves.toHaveProperty('listen')
${ASSERTIONS}
const app = await build()
await app.close()
if (jwtAuth !== named || gateway !== gatewayNamed) throw new Error('the default export is not the plugin')
console.log('esm ok')
`

const CJS = `import Fastify from 'fastify'
import { expectTypeOf } from 'expect-type'
import jwtAuth, { jwtAuth as named, type JwtPolicy, type JwtPayload, type VerifiedJwt } from '@fastify-jwt-gateway/jwt-auth'
import gateway, { gatewayPlugin as gatewayNamed } from '@fastify-jwt-gateway/gateway'
import jwtAuthModule = require('@fastify-jwt-gateway/jwt-auth')

expectTypeOf(jwtAuth).toEqualTypeOf(named)
expectTypeOf(jwtAuthModule.default).toEqualTypeOf(named)
expectTypeOf(gateway).toEqualTypeOf(gatewayNamed)
${ASSERTIONS}
build().then(async (app) => {
  await app.close()
  if (jwtAuth !== named || gateway !== gatewayNamed || jwtAuthModule.jwtAuth !== named) throw new Error('the default export is not the plugin')
  console.log('cjs ok')
})
`

async function compileAndRun (t: T, type: 'module' | 'commonjs', source: string): Promise<void> {
  const dir = project(t, type)
  writeFileSync(join(dir, 'src', 'index.ts'), source)
  try {
    await run(process.execPath, [TSC, '-p', dir], { cwd: dir })
  } catch (err) {
    const e = err as { stdout: string, stderr: string }
    t.fail(`tsc failed for the ${type} consumer:\n${e.stdout}${e.stderr}`)
    return
  }
  t.pass(`the ${type} consumer type-checks (strict, nodenext)`)
  const { stdout } = await run(process.execPath, [join(dir, 'out', 'index.js')], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' } })
  t.equal(stdout, type === 'module' ? 'esm ok\n' : 'cjs ok\n', `the ${type} consumer runs`)
}

t.test('an ESM consumer (module: nodenext, "type": "module")', { timeout: 180_000 }, async (t) => {
  await compileAndRun(t, 'module', ESM)
})

t.test('a CommonJS consumer (module: nodenext, "type": "commonjs")', { timeout: 180_000 }, async (t) => {
  await compileAndRun(t, 'commonjs', CJS)
})

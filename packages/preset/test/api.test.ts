import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import Ajv from 'ajv'
import { check, start, UserError } from '../src/index.js'
import { keys, sign, tempDir, upstream, writeJson } from './helpers/fixtures.js'

// The package as a library: start() returns the running gateway (tests close
// it), check() throws the CLI's messages; and the schema.json the build ships.

t.test('start() returns the running gateway; close() stops it', async (t) => {
  const dir = tempDir(t)
  const { set } = keys(dir)
  const up = await upstream(t)
  const config = writeJson(join(dir, 'gw.json'), {
    server: { logLevel: 'silent' },
    jwt: { keys: [{ file: 'keys/ed25519.pem' }], claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [{ prefix: '/api', upstream: up, rewritePrefix: '/api' }]
  })
  const gw = await start({ config, port: 0 })
  t.teardown(() => gw.close())
  t.equal(gw.source, config)
  t.equal(gw.demo, null)
  t.equal(gw.url, `http://127.0.0.1:${gw.port}`)
  t.equal((await fetch(`${gw.url}/api/x`)).status, 401)
  const res = await fetch(`${gw.url}/api/x`, { headers: { authorization: `Bearer ${sign(set.ed25519, 'EdDSA', { sub: 'ed' })}` } })
  t.equal(res.status, 200)
  t.equal(((await res.json()) as { headers: Record<string, string> }).headers['x-user-id'], 'ed')
  await gw.close()
  await t.rejects(fetch(`${gw.url}/api/x`))
})

t.test('check() throws a UserError listing every problem', async (t) => {
  const dir = tempDir(t)
  const config = writeJson(join(dir, 'gw.json'), {
    jwt: { keys: [{ file: 'missing.pem' }], leeway: 'abc' },
    routes: [{ prefix: 'api', upstream: 'ftp://x' }]
  })
  const err = await check(config).then(() => null, (e: unknown) => e)
  t.ok(err instanceof UserError)
  t.equal((err as UserError).code, 'FJG_ERR_CONFIG_INVALID')
  t.match((err as UserError).problems, [/^jwt\.leeway: must be number/, /^routes\[0\]\.prefix: /, /^routes\[0\]\.upstream: /])
})

t.test('schema.json: generated at build, a usable JSON Schema of the config', async (t) => {
  const schema = JSON.parse(readFileSync(join(__dirname, '..', 'schema.json'), 'utf8'))
  t.equal(schema.$id, 'https://fastify-jwt-gateway.dev/schemas/gateway.json')
  const validate = new Ajv({ strict: false, allErrors: true }).compile(schema)
  // The config of shared/DESIGN.md, as written there.
  const design = {
    $schema: './node_modules/fastify-jwt-gateway/schema.json',
    server: { host: '127.0.0.1', port: 8080, logLevel: 'info' },
    jwt: { secret: '${JWT_SECRET}', issuer: 'https://issuer.example' }, // eslint-disable-line no-template-curly-in-string
    routes: [
      { prefix: '/api', upstream: 'http://127.0.0.1:9000', rewritePrefix: '/api', jwt: { claimsToHeaders: { 'x-user-id': 'sub' } } },
      { prefix: '/', upstream: 'http://127.0.0.1:9000', jwt: false }
    ]
  }
  t.ok(validate(design), JSON.stringify(validate.errors))
  t.notOk(validate({ ...design, server: { prot: 1 } }), 'unknown server key')
  t.notOk(validate({ ...design, jwt: { requireClaims: [{ claim: 'a', op: 'like' }] } }), 'unknown op')
  t.notOk(validate({ routes: [] }), 'no route')
  t.notOk(validate({ ...design, server: { workers: 0 } }), 'workers ≥ 1')
  t.ok(validate({ ...design, server: { workers: 'auto' } }), 'workers "auto"')
})

import t from 'tap'
import { join } from 'node:path'
import { run } from './helpers/cli.js'
import { tempDir, writeJson } from './helpers/fixtures.js'

// Issue 12 point 2 through the preset: `check` reads a key source's `tls`
// files relative to the config's folder and names the option path.

t.test('check: a missing tls.ca of a key source is reported with its option path, resolved against the config folder', async (t) => {
  const dir = tempDir(t)
  const file = writeJson(join(dir, 'gateway.json'), {
    routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9', jwt: { keys: [{ jwks: 'https://127.0.0.1:9/jwks.json', tls: { ca: 'missing-ca.pem' } }] } }]
  })
  const r = await run(['check', '--config', file])
  t.equal(r.code, 1)
  t.equal(r.stderr, `fastify-jwt-gateway: ${file}: invalid configuration\n  routes[0].jwt.keys[0].tls.ca: cannot read ${join(dir, 'missing-ca.pem')}: ENOENT\n`)
})

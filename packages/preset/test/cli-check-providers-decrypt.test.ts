import tap from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { run } from './helpers/cli.js'
import { keys, tempDir, writeJson } from './helpers/fixtures.js'

// Issue 13 points 7 and 9: `check` validates `providers` and `decrypt` through
// jwt-auth's schema and compiler, on real files, with paths from the config's folder.

const STACK = /^\s+at .+:\d+:\d+\)?$/m

tap.test('check: a config with providers and decrypt', async (t) => {
  const dir = tempDir(t)
  keys(dir)
  const enc = generateKeyPairSync('rsa', { modulusLength: 2048 })
  writeFileSync(join(dir, 'keys', 'gateway-enc.pem'), enc.privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const upstream = 'http://127.0.0.1:9'
  const good = {
    server: { host: '127.0.0.1', port: 8080 },
    jwt: { claimsToHeaders: { 'x-user-id': 'sub' } },
    routes: [
      {
        prefix: '/api',
        upstream,
        jwt: {
          decrypt: { keys: [{ file: 'keys/gateway-enc.pem' }], algorithms: ['RSA-OAEP-256', 'A256GCM'], type: 'nested' },
          providers: [
            { issuer: 'https://login.example', keys: [{ file: 'keys/rsa.pem' }], audience: 'api' },
            { issuer: 'urn:partner', keys: [{ file: 'keys/all.jwks.json' }], requireClaims: [{ claim: 'partner_id', op: 'exists' }] }
          ]
        }
      },
      { prefix: '/', upstream, jwt: false }
    ]
  }
  const ok = writeJson(join(dir, 'gateway.json'), good)
  const badConfig = structuredClone(good) as any
  badConfig.routes[0].jwt.providers[1].issuer = 'https://login.example'
  badConfig.routes[0].jwt.providers[0].token = 'cookie:t'
  badConfig.routes[0].jwt.decrypt.algorithms = ['RSA-OAEP-256', 'RSA1_5']
  badConfig.routes[0].jwt.decrypt.keys = [{ file: 'keys/rsa.pem' }]
  const bad = writeJson(join(dir, 'bad.json'), badConfig)
  const badKeys = structuredClone(good) as any
  badKeys.routes[0].jwt.decrypt.keys = [{ file: 'keys/rsa.pem' }]
  badKeys.routes[0].jwt.providers[1].issuer = 'https://login.example'
  const bad2 = writeJson(join(dir, 'bad-keys.json'), badKeys)
  const [okRun, badRun, bad2Run] = await Promise.all([
    run(['check', '--config', ok], { cwd: tempDir(t) }),
    run(['check', '--config', bad]),
    run(['check', '--config', bad2])
  ])
  t.equal(okRun.code, 0, okRun.stderr)
  t.equal(okRun.stderr, '')
  t.match(okRun.stdout, /gateway\.json: configuration OK \(2 routes, \d+ key sources\)\n$/)

  // Schema problems first, every one at once, each naming its path.
  t.equal(badRun.code, 1)
  t.notMatch(badRun.stderr, STACK)
  t.match(badRun.stderr, 'routes[0].jwt.providers[0].token: not allowed in a provider')
  t.match(badRun.stderr, 'routes[0].jwt.decrypt.algorithms[1]: must be one of')

  // Then what only compiling finds: the duplicate issuer (here with a public key given for decryption, found after).
  t.equal(bad2Run.code, 1)
  t.notMatch(bad2Run.stderr, STACK)
  t.match(bad2Run.stderr, 'routes[0].jwt.providers[1].issuer: "https://login.example" is already the issuer of providers[0]')
  const bad3 = structuredClone(good) as any
  bad3.routes[0].jwt.decrypt.keys = [{ file: 'keys/rsa.pem' }]
  const bad3Run = await run(['check', '--config', writeJson(join(dir, 'bad-dec.json'), bad3)])
  t.equal(bad3Run.code, 1)
  t.match(bad3Run.stderr, /routes\[0\]\.jwt\.decrypt\.keys\[0\]\.file: '.*rsa\.pem' holds no PEM private key/)
})

import tap from 'tap'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { start } from '../src/index.js'
import { run } from './helpers/cli.js'
import { tempDir, upstream, writeJson } from './helpers/fixtures.js'

// `token` as a user runs it: the real CLI mints a token from key files, and the
// real gateway (started from a config with the matching public keys) accepts it.

// Many CLI processes, each loading Fastify: far more than the 60 s default per file on a loaded 2-core machine.
tap.setTimeout(300_000)

const ISSUER = 'https://issuer.example'

function decode (token: string): { header: Record<string, unknown>, payload: Record<string, unknown> } {
  const [h, p] = token.split('.') as [string, string]
  return { header: JSON.parse(Buffer.from(h, 'base64url').toString()), payload: JSON.parse(Buffer.from(p, 'base64url').toString()) }
}

tap.test('token', async (t) => {
  const dir = tempDir(t)
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ed = generateKeyPairSync('ed25519')
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(join(dir, 'ec.pem'), ec.privateKey.export({ type: 'sec1', format: 'pem' }))
  writeFileSync(join(dir, 'ec.pub.pem'), ec.publicKey.export({ type: 'spki', format: 'pem' }))
  writeFileSync(join(dir, 'rsa.pem'), rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }))
  writeJson(join(dir, 'ed.jwk.json'), { ...ed.privateKey.export({ format: 'jwk' }), kid: 'ed-1' })
  writeJson(join(dir, 'rsa.jwks.json'), { keys: [{ ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-pub' }] })
  writeJson(join(dir, 'ec.pub.jwk.json'), { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1' })
  writeFileSync(join(dir, 'secret.txt'), `${secret}\n`)

  const up = await upstream(t)
  writeJson(join(dir, 'gateway.json'), {
    server: { host: '127.0.0.1', port: 0, logLevel: 'silent' },
    jwt: {
      issuer: ISSUER,
      keys: [
        { jwk: { ...ec.publicKey.export({ format: 'jwk' }), kid: 'ec-1' } },
        { jwk: { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'rsa-1' } },
        { jwk: { ...ed.publicKey.export({ format: 'jwk' }), kid: 'ed-1' } }
      ],
      claimsToHeaders: { 'x-user-id': 'sub' }
    },
    routes: [
      { prefix: '/api', upstream: up, rewritePrefix: '/api' },
      { prefix: '/hs', upstream: up, rewritePrefix: '/hs', jwt: { keys: [], secret } }
    ]
  })
  const gw = await start({ config: join(dir, 'gateway.json'), port: 0 })
  t.teardown(() => gw.close())

  async function call (path: string, token: string): Promise<{ status: number, body: any }> {
    const res = await fetch(`${gw.url}${path}`, { headers: { authorization: `Bearer ${token}` } })
    return { status: res.status, body: await res.json() }
  }

  async function mint (args: string[]): Promise<string> {
    const r = await run(['token', ...args])
    t.equal(r.code, 0, `exit 0 for ${args.join(' ')}`)
    t.equal(r.stderr, '', 'nothing on stderr')
    t.match(r.stdout, /^[\w-]+\.[\w-]+\.[\w-]+\n$/, 'one token on one line')
    return r.stdout.trim()
  }

  t.test('each key format mints a token the gateway accepts', async (t) => {
    const claims = JSON.stringify({ sub: 'alice', iss: ISSUER })
    const cases: Array<[string, string[], string]> = [
      ['EC PEM (SEC1), kid given', ['--key', join(dir, 'ec.pem'), '--kid', 'ec-1'], 'ES256'],
      ['RSA PEM (PKCS#1), PS256 asked', ['--key', join(dir, 'rsa.pem'), '--kid', 'rsa-1', '--alg', 'PS256'], 'PS256'],
      ['Ed25519 private JWK, kid from the JWK', ['--key', join(dir, 'ed.jwk.json')], 'EdDSA'],
      ['HMAC secret file', ['--key', join(dir, 'secret.txt'), '--alg', 'HS256'], 'HS256']
    ]
    for (const [name, args, alg] of cases) {
      const token = await mint([...args, '--claims', claims])
      const { header, payload } = decode(token)
      t.equal(header.alg, alg, `${name}: alg`)
      t.equal(payload.sub, 'alice')
      t.equal(payload.exp, (payload.iat as number) + 3600, `${name}: exp is iat + 1h by default`)
      const r = await call(alg === 'HS256' ? '/hs/who' : '/api/who', token)
      t.equal(r.status, 200, `${name}: accepted`)
      t.equal(r.body.headers['x-user-id'], 'alice', `${name}: the claim reached the upstream`)
    }
  })

  t.test('--exp sets the lifetime; none omits exp; a bad duration is a usage error', async (t) => {
    const short = decode(await mint(['--key', join(dir, 'ec.pem'), '--exp', '15m'])).payload
    t.equal(short.exp, (short.iat as number) + 900)
    const none = decode(await mint(['--key', join(dir, 'ec.pem'), '--exp', 'none'])).payload
    t.notOk('exp' in none, 'no exp claim')
    const bad = await run(['token', '--key', join(dir, 'ec.pem'), '--exp', '1w'])
    t.equal(bad.code, 1)
    t.equal(bad.stdout, '')
    t.equal(bad.stderr, "fastify-jwt-gateway: --exp must be a duration such as 3600, 30s, 15m, 1h, 7d (or none), got '1w'\n")
  })

  t.test('an expired token minted with claims of its own is refused by the gateway', async (t) => {
    const token = await mint(['--key', join(dir, 'ec.pem'), '--kid', 'ec-1', '--claims', JSON.stringify({ iss: ISSUER, exp: 1000 })])
    const r = await call('/api/x', token)
    t.equal(r.status, 401)
    t.equal(r.body.code, 'FJG_ERR_TOKEN_EXPIRED')
  })

  t.test('public-only keys are refused', async (t) => {
    const cases: Array<[string, string]> = [
      ['ec.pub.pem', 'the PEM is a public key only'],
      ['ec.pub.jwk.json', 'the JWK is a public key only'],
      ['rsa.jwks.json', 'every key of the JWKS is a public key only']
    ]
    for (const [file, what] of cases) {
      const r = await run(['token', '--key', join(dir, file)])
      t.equal(r.code, 1, `${file}: exit 1`)
      t.equal(r.stdout, '', `${file}: no token`)
      t.equal(r.stderr, `fastify-jwt-gateway: ${join(dir, file)}: ${what}: a token can only be signed with the private key (or an HMAC secret)\n`)
    }
  })

  t.test('usage mistakes', async (t) => {
    const cases: Array<[string[], string]> = [
      [[], '--key <file> is required\nRun `fastify-jwt-gateway token --help` for usage.'],
      [['--key', join(dir, 'ec.pem'), '--alg', 'RS256'], `--alg RS256 does not fit the key in ${join(dir, 'ec.pem')} (a ec key: ES256)`],
      [['--key', join(dir, 'ec.pem'), '--alg', 'none'], "--alg must be one of HS256, HS384, HS512, RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, got 'none'"],
      [['--key', join(dir, 'ec.pem'), '--claims', '[1]'], '--claims must be a JSON object, got [1]'],
      [['--key', join(dir, 'secret.txt')], `${join(dir, 'secret.txt')}: not a PEM private key or a JWK (for an HMAC secret in a plain file, give --alg HS256)`],
      [['--key', join(dir, 'missing.pem')], `cannot read '${join(dir, 'missing.pem')}': ENOENT`]
    ]
    for (const [args, message] of cases) {
      const r = await run(['token', ...args])
      t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
      t.equal(r.stdout, '')
      t.equal(r.stderr, `fastify-jwt-gateway: ${message}\n`)
    }
  })
})

// Every algorithm, with every way of giving its key: a valid token is let
// through (200), a token whose payload or signature was changed is refused
// with 401 FJG_ERR_TOKEN_SIGNATURE. Real keys, generated once for the file.
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { rmSync } from 'node:fs'
import jwtAuth, { type JwtPolicy } from '../src/index.js'
import { ALL_ALGS, generateKeySet, keyFor, sign, writeKeyFiles, type Alg, type TestKey } from './helpers/keys.js'
import { denied, get } from './helpers/app.js'

const keys = generateKeySet()
const files = writeKeyFiles(keys)
t.teardown(() => rmSync(files.dir, { recursive: true, force: true }))

const SIGNATURE_INVALID = 'The token signature is invalid'

/** The type of a subtest's `t` (tap does not export it under a short name). */
type T = Parameters<Parameters<typeof t.test>[0]>[0]

async function build (t: T, policy: JwtPolicy): Promise<FastifyInstance> {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jwtAuth, policy)
  app.get('/', async (request) => ({ sub: request.jwt?.payload.sub, alg: request.jwt?.header.alg }))
  await app.ready()
  return app
}

/** Same header and signature, another payload: the signature no longer covers it. */
function tamperPayload (token: string): string {
  const [h, , s] = token.split('.')
  const payload = Buffer.from(JSON.stringify({ sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url')
  return `${h}.${payload}.${s}`
}

/** One bit of the first signature byte flipped, re-encoded canonically. */
function tamperSignature (token: string): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const sig = Buffer.from(s, 'base64url')
  sig[0] = (sig[0] as number) ^ 0x01
  return `${h}.${p}.${sig.toString('base64url')}`
}

interface Source {
  name: string
  /** Algorithms this way of giving a key applies to. */
  applies: (alg: Alg) => boolean
  policy: (key: TestKey) => JwtPolicy
}

const hmac = (alg: Alg): boolean => alg.startsWith('HS')
const SOURCES: Source[] = [
  { name: 'inline jwk', applies: () => true, policy: (key) => ({ keys: [{ jwk: key.jwk }] }) },
  { name: '.jwk.json file', applies: () => true, policy: (key) => ({ keys: [{ file: files.jwk[key.name] as string }] }) },
  { name: 'JWKS file', applies: () => true, policy: () => ({ keys: [{ file: files.jwks }] }) },
  { name: 'PEM file', applies: (alg) => !hmac(alg), policy: (key) => ({ keys: [{ file: files.pem[key.name] as string }] }) },
  { name: 'keyval file', applies: () => true, policy: () => ({ keys: [{ file: files.keyval }] }) },
  { name: 'secret (utf8)', applies: hmac, policy: (key) => ({ secret: (key.signingKey as Buffer).toString('utf8') }) },
  { name: 'secret { base64 }', applies: hmac, policy: (key) => ({ secret: { base64: (key.signingKey as Buffer).toString('base64') } }) }
]

t.test('every algorithm with every key source: valid → 200, tampered → 401', async (t) => {
  for (const source of SOURCES) {
    t.test(source.name, async (t) => {
      for (const alg of ALL_ALGS) {
        if (!source.applies(alg)) continue
        t.test(alg, async (t) => {
          const key = keyFor(keys, alg)
          const app = await build(t, source.policy(key))
          const token = sign(key, alg, { sub: `user-${alg}` })

          const ok = await get(app, token)
          t.equal(ok.statusCode, 200)
          t.strictSame(ok.json(), { sub: `user-${alg}`, alg })

          denied(t, await get(app, tamperPayload(token)), 'FJG_ERR_TOKEN_SIGNATURE', SIGNATURE_INVALID)
          denied(t, await get(app, tamperSignature(token)), 'FJG_ERR_TOKEN_SIGNATURE', SIGNATURE_INVALID)
        })
      }
    })
  }
})

t.test('a JWKS with every key: tokens without a kid are checked against every key of their algorithm', async (t) => {
  const app = await build(t, { keys: [{ file: files.jwks }] })
  for (const alg of ALL_ALGS) {
    const token = sign(keyFor(keys, alg), alg, { sub: 'no-kid' }, { kid: null })
    const res = await get(app, token)
    t.equal(res.statusCode, 200, `${alg} without kid`)
    t.strictSame(res.json(), { sub: 'no-kid', alg })
  }
  // rsa2 is in the set too: its tokens verify, under its own kid or none.
  t.equal((await get(app, sign(keys.rsa2, 'PS512', {}, { kid: null }))).statusCode, 200)
  t.equal((await get(app, sign(keys.rsa2, 'RS384'))).statusCode, 200)
})

t.test('a token signed by another key of the same type is refused', async (t) => {
  // Only rsa is trusted; rsa2 signs. With the kid of rsa, and with none.
  const app = await build(t, { keys: [{ file: files.jwk.rsa as string }] })
  for (const alg of ['RS256', 'PS384'] as Alg[]) {
    denied(t, await get(app, sign(keys.rsa2, alg, {}, { kid: keys.rsa.kid })), 'FJG_ERR_TOKEN_SIGNATURE', SIGNATURE_INVALID)
    denied(t, await get(app, sign(keys.rsa2, alg, {}, { kid: null })), 'FJG_ERR_TOKEN_SIGNATURE', SIGNATURE_INVALID)
  }
})

t.test('an HS token signed with another secret is refused', async (t) => {
  const app = await build(t, { secret: 'the-server-secret-that-is-long-enough' })
  const other = { ...keys.hmac, signingKey: Buffer.from('an-attacker-secret-that-is-long-enough') }
  for (const alg of ['HS256', 'HS384', 'HS512'] as Alg[]) {
    denied(t, await get(app, sign(other, alg, {}, { kid: null })), 'FJG_ERR_TOKEN_SIGNATURE', SIGNATURE_INVALID)
  }
})

t.test('a binary secret is given as { base64 }; as a utf8 string it would be other bytes', async (t) => {
  const bytes = Buffer.from([0xff, 0x00, 0x80, 0x7f, 0x01, 0xfe, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0])
  const key = { ...keys.hmac, signingKey: bytes }
  // Binary bytes that are not UTF-8 can only be given as base64.
  const app = await build(t, { secret: { base64: bytes.toString('base64') } })
  t.equal((await get(app, sign(key, 'HS256', {}, { kid: null }))).statusCode, 200)
  const utf8 = await build(t, { secret: bytes.toString('latin1') })
  denied(t, await get(utf8, sign(key, 'HS256', {}, { kid: null })), 'FJG_ERR_TOKEN_SIGNATURE', SIGNATURE_INVALID)
})

// Revocation lists that change while the app runs: real files in a temp
// folder, rewritten in place, replaced by rename, broken and deleted.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import Fastify, { type FastifyInstance } from 'fastify'
import { createSigner } from 'fast-jwt'
import jwtAuth from '../src/index.js'
import { Revocation, REVOCATION_POLL_INTERVAL } from '../src/revocation.js'
import { sleep, until } from './helpers/jwks-server.js'
import { loggedApp } from './helpers/app.js'

const SECRET = 'revocation-test-secret-long-enough-for-hs256'
const signer = createSigner({ key: SECRET, expiresIn: 300_000 })
const issued: string[] = []
function token (payload: Record<string, unknown>, kid?: string): string {
  const tok = kid === undefined ? signer(payload) : createSigner({ key: SECRET, expiresIn: 300_000, kid })(payload)
  issued.push(tok)
  return tok
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0]

function folder (tt: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-revocation-'))
  tt.teardown(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

async function code (app: FastifyInstance, tok: string): Promise<number | string> {
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${tok}` } })
  return res.statusCode === 200 ? 200 : res.json().code
}

/** Polls the app until `tok` gets `want`; returns the ms it took. */
async function becomes (app: FastifyInstance, tok: string, want: number | string, within = 2000): Promise<number> {
  const start = Date.now()
  for (;;) {
    if (await code(app, tok) === want) return Date.now() - start
    if (Date.now() - start > within) throw new Error(`still not ${want} after ${within} ms`)
    await sleep(10)
  }
}

t.test('array form: a file rewritten in place is reloaded within ~1 s; cached tokens are checked too', async (t) => {
  const file = join(folder(t), 'revoked-sub.json')
  writeFileSync(file, JSON.stringify(['u1']))
  const { app, logs } = await loggedApp(t, { secret: SECRET, revocation: { sub: file } }, issued)
  const u1 = token({ sub: 'u1' })
  const u2 = token({ sub: 'u2' })
  const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${u1}` } })
  t.equal(res.statusCode, 401)
  t.same(res.json(), { statusCode: 401, error: 'Unauthorized', code: 'FJG_ERR_TOKEN_REVOKED', message: 'The token has been revoked' })
  t.equal(res.headers['www-authenticate'], 'Bearer realm="api", error="invalid_token", error_description="The token has been revoked"')
  t.equal(await code(app, u2), 200, 'u2 accepted')
  t.equal(await code(app, u2), 200, 'u2 accepted again (and now in the verified-token cache: admitted on its second sight)')

  writeFileSync(file, JSON.stringify(['u1', 'u2']))
  const ms = await becomes(app, u2, 'FJG_ERR_TOKEN_REVOKED')
  t.ok(ms < 1200, `u2 revoked ${ms} ms after the rewrite, although its verification was cached`)
  t.comment(`revocation: in-place rewrite seen after ${ms} ms`)

  writeFileSync(file, '[]')
  const ms2 = await becomes(app, u1, 200)
  t.ok(ms2 < 1200, `u1 accepted again ${ms2} ms after its removal from the list`)
  t.ok(logs.some((l) => l.msg === 'jwt: revocation list reloaded' && l.revocation.file === file && l.revocation.entries === 0))
})

t.test('object form (the nginx module format), by kid and by jti; replaced by rename', async (t) => {
  const dir = folder(t)
  const kidFile = join(dir, 'kid.json')
  const jtiFile = join(dir, 'jti.json')
  writeFileSync(kidFile, JSON.stringify({ 'old-key': { revoked_at: 1 } }))
  writeFileSync(jtiFile, JSON.stringify({}))
  const { app } = await loggedApp(t, { secret: SECRET, revocation: { kid: kidFile, jti: jtiFile } }, issued)
  t.equal(await code(app, token({ sub: 'a' }, 'old-key')), 'FJG_ERR_TOKEN_REVOKED', 'kid revoked')
  const current = token({ sub: 'a' }, 'current-key')
  t.equal(await code(app, current), 200)
  // With a kid list set, every token needs a kid (issue 10, point 5).
  t.equal(await code(app, token({ sub: 'b', jti: 'j-1' })), 'FJG_ERR_TOKEN_KID_REQUIRED', 'a kid list requires a kid')
  const j1 = token({ sub: 'b', jti: 'j-1' }, 'another-key')
  t.equal(await code(app, j1), 200)

  // Deploy tools and editors write a temp file and rename it over the old one.
  writeFileSync(join(dir, 'kid.json.tmp'), JSON.stringify({ 'old-key': {}, 'current-key': {} }))
  renameSync(join(dir, 'kid.json.tmp'), kidFile)
  const ms = await becomes(app, current, 'FJG_ERR_TOKEN_REVOKED')
  t.ok(ms < 1200, `replaced file seen after ${ms} ms`)
  t.comment(`revocation: rename-replace seen after ${ms} ms`)

  writeFileSync(jtiFile, JSON.stringify({ 'j-1': 'leaked' }))
  t.ok(await becomes(app, j1, 'FJG_ERR_TOKEN_REVOKED') < 1200, 'jti revoked')

  // A second replacement by rename: the watch still follows the name.
  writeFileSync(join(dir, 'kid.json.tmp'), JSON.stringify({ 'old-key': {} }))
  renameSync(join(dir, 'kid.json.tmp'), kidFile)
  t.ok(await becomes(app, current, 200) < 1200, 'second rename seen')
})

t.test('an invalid, unreadable or deleted file keeps the previous list and logs an error', async (t) => {
  const file = join(folder(t), 'sub.json')
  writeFileSync(file, JSON.stringify(['u1']))
  const { app, logs } = await loggedApp(t, { secret: SECRET, revocation: { sub: file } }, issued)
  const u1 = token({ sub: 'u1' })
  const u2 = token({ sub: 'u2' })
  const errors = (): Array<Record<string, any>> => logs.filter((l) => l.level === 50 && l.revocation?.file === file)

  const bad: Array<[string, () => void, RegExp]> = [
    ['not JSON', () => writeFileSync(file, '["u2", '), /is not valid JSON/],
    ['a wrong entry type', () => writeFileSync(file, JSON.stringify(['u2', { sub: 'u3' }])), /entry 1 must be a string/],
    ['a JSON scalar', () => writeFileSync(file, '"u2"'), /must hold a JSON object keyed by revoked value or an array of values/],
    ['deleted', () => rmSync(file), /ENOENT/]
  ]
  for (const [name, breakIt, message] of bad) {
    const n = errors().length
    breakIt()
    const ms = await until(() => errors().length > n, 2000, 10)
    t.match(errors().at(-1)?.revocation.error, message, `${name}: logged after ${ms} ms`)
    t.equal(await code(app, u1), 'FJG_ERR_TOKEN_REVOKED', `${name}: u1 still revoked`)
    t.equal(await code(app, u2), 200, `${name}: u2 still accepted`)
  }
  await sleep(REVOCATION_POLL_INTERVAL * 2)
  t.equal(errors().length, bad.length, 'each broken version is reported once, not at every poll')

  writeFileSync(file, JSON.stringify(['u2']))
  t.ok(await becomes(app, u2, 'FJG_ERR_TOKEN_REVOKED') < 1200, 'a valid file again is loaded')
  t.equal(await code(app, u1), 200)
})

t.test('a missing file at start is a start error naming it', async (t) => {
  const file = join(folder(t), 'nope.json')
  const app = Fastify()
  t.teardown(() => app.close())
  app.register(jwtAuth, { secret: SECRET, revocation: { jti: file } })
  await t.rejects(async () => { await app.ready() }, {
    code: 'FJG_ERR_OPTION_INVALID',
    message: `Invalid jwt policy: revocation.jti: cannot read '${file}': ENOENT`
  })
})

t.test('Revocation: atomic swap, poll fallback without fs.watch, close() stops watching', async (t) => {
  const file = join(folder(t), 'sub.json')
  writeFileSync(file, JSON.stringify(['a']))
  const errors: string[] = []
  const log = { info () {}, error (obj: any) { errors.push(obj.revocation.error) } }
  const r = new Revocation({ sub: file }, log, { fsWatch: false })
  t.teardown(() => r.close())
  const before = r.lists.sub as Set<string>
  t.ok(r.revoked({}, { sub: 'a' }))
  writeFileSync(file, JSON.stringify({ a: 1, b: 2 }))
  const ms = await until(() => r.lists.sub !== before, 2000, 5)
  t.ok(ms < REVOCATION_POLL_INTERVAL + 400, `the stat poll alone saw the change after ${ms} ms`)
  t.same([...before], ['a'], 'the old Set was not touched: a check in flight saw one version')
  t.same([...(r.lists.sub as Set<string>)], ['a', 'b'])
  t.ok(r.revoked({}, { sub: 'b' }))
  t.notOk(r.revoked({}, { sub: 'c' }))
  t.notOk(r.revoked({}, { sub: 1 }), 'a non-string sub never matches')

  r.close()
  const after = r.lists.sub
  writeFileSync(file, JSON.stringify(['c']))
  await sleep(REVOCATION_POLL_INTERVAL * 2)
  t.equal(r.lists.sub, after, 'closed: no reload')
  t.same(errors, [])
})

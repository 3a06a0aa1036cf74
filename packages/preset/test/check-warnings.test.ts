import { join } from 'node:path'
import t from 'tap'
import { check } from '../src/check.js'
import { tempDir, writeJson } from './helpers/fixtures.js'

// Issue 13 point 12: `!in` on a list claim is not a deny-list; `check` says so, naming the path.

t.test('check warns on !in with a list claim, and still passes', async (t) => {
  const dir = tempDir(t)
  const file = writeJson(join(dir, 'gateway.json'), {
    jwt: { secret: 'a-secret-that-is-long-enough-for-hs256-tokens' },
    routes: [
      { prefix: '/a', upstream: 'http://127.0.0.1:9', jwt: { requireClaims: [{ claim: 'roles', op: '!in', value: ['banned'] }] } },
      { prefix: '/b', upstream: 'http://127.0.0.1:9', jwt: { requireClaims: [{ claim: 'sub', op: '!in', value: ['root'] }, { claim: 'scope', op: '!intersect', value: ['x'] }] } }
    ]
  })
  const result = await check(file, {})
  t.strictSame(result.warnings, [
    "routes[0].jwt.requireClaims[0]: '!in' on the list claim roles passes when some element is outside the list; it is not a deny-list: use '!intersect' to refuse tokens holding any of these values"
  ])
})

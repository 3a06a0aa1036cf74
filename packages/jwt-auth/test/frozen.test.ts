import t from 'tap'
import Fastify from 'fastify'
import jwtAuth from '../src/index.js'
import { bearer, hs, SECRET } from './helpers/app.js'

// request.jwt is deep-frozen with the token cache on (the cached object is
// shared between requests) and off alike: one behaviour, whatever the setting.

for (const cache of [false, { size: 10, ttl: 60 }] as const) {
  t.test(`request.jwt is deep-frozen (cache ${cache === false ? 'off' : 'on'})`, async (t) => {
    const app = Fastify()
    t.teardown(() => app.close())
    await app.register(jwtAuth, { secret: SECRET, cache })
    app.get('/', async (request) => {
      const jwt = request.jwt as any
      const attempts = [
        () => { jwt.payload.sub = 'mallory' },
        () => { jwt.payload.realm.roles.push('admin') },
        () => { jwt.header.kid = 'other' },
        () => { jwt.token = 'x' }
      ]
      // Assignments to frozen members throw in strict code and are ignored otherwise; push always throws.
      for (const f of attempts) { try { f() } catch {} }
      return {
        frozen: [Object.isFrozen(jwt), Object.isFrozen(jwt.payload), Object.isFrozen(jwt.payload.realm), Object.isFrozen(jwt.payload.realm.roles), Object.isFrozen(jwt.header)],
        sub: jwt.payload.sub,
        kid: jwt.header.kid ?? null,
        token: jwt.token === 'x',
        roles: jwt.payload.realm.roles
      }
    })
    const token = hs({ sub: 'alice', realm: { roles: ['user'] } })
    for (let i = 0; i < 2; i++) {
      const res = await app.inject({ url: '/', headers: bearer(token) })
      t.equal(res.statusCode, 200)
      t.same(res.json(), { frozen: [true, true, true, true, true], sub: 'alice', kid: null, token: false, roles: ['user'] }, `request ${i + 1}: frozen, unchanged`)
    }
  })
}

t.test('deepFreeze freezes every level, past its recursion depth too', async (t) => {
  const { deepFreeze } = await import('../src/decoder.js')
  // Alternating objects and arrays, each level with a sibling object: deeper
  // than the recursive part (64), so the iterative rest is walked too.
  for (const depth of [1, 63, 64, 65, 200, 20000]) {
    const root: any = { level: 0, side: { n: 0 } }
    let at: any = root
    for (let i = 1; i < depth; i++) {
      const next: any = i % 2 === 0 ? { level: i, side: { n: i } } : [i, { n: i }, [i]]
      if (Array.isArray(at)) at.push(next)
      else at.child = next
      at = next
    }
    t.equal(deepFreeze(root), root, 'returns its argument')
    let unfrozen = 0
    let seen = 0
    const stack: unknown[] = [root]
    while (stack.length > 0) {
      const v = stack.pop()
      if (v === null || typeof v !== 'object') continue
      seen++
      if (!Object.isFrozen(v)) unfrozen++
      for (const k of Object.keys(v)) stack.push((v as Record<string, unknown>)[k])
    }
    t.ok(seen > depth, `depth ${depth}: walked ${seen} objects`)
    t.equal(unfrozen, 0, `depth ${depth}: every object and array frozen`)
  }
  t.equal(deepFreeze(null), null)
  t.equal(deepFreeze('x'), 'x')
})

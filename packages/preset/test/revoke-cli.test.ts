// The revoke CLI against a real redis-server: --ttl, --list, --remove, and
// the usage mistakes. (The fleet itself: fleet.test.ts.)
import { join } from 'node:path'
import t from 'tap'
import { run } from './helpers/cli.js'
import { tempDir, writeJson } from './helpers/fixtures.js'
import { redisServer } from '../../jwt-auth/test/helpers/redis.js'

const SECRET = 'fleet-test-secret-that-is-long-enough-for-hs256'
// Several CLI processes on a shared 2-core machine: more than the default minute.
t.setTimeout(240_000)

t.test('--ttl, --list, --remove; every distinct store of the config is written', async (t) => {
  const dir = tempDir(t)
  const redis = await redisServer(t)
  const file = writeJson(join(dir, 'c.json'), {
    jwt: { secret: SECRET, revocation: { redis: { url: redis.url, prefix: 'one:' } } },
    routes: [
      { prefix: '/a', upstream: 'http://127.0.0.1:9' },
      { prefix: '/b', upstream: 'http://127.0.0.1:9', jwt: { revocation: { redis: { url: redis.url, prefix: 'two:' } } } },
      { prefix: '/c', upstream: 'http://127.0.0.1:9', jwt: { revocation: { redis: { url: redis.url, prefix: 'one:' } } } }
    ]
  })
  const ttl = await run(['revoke', '--config', file, '--jti', 'j-9', '--ttl', '3600'])
  t.equal(ttl.code, 0, ttl.stderr)
  t.equal(ttl.stdout, `${redis.url} (prefix one:): jti "j-9" revoked for 3600 s\n${redis.url} (prefix two:): jti "j-9" revoked for 3600 s\n`, 'both prefixes, once each')
  const list = await run(['revoke', '--config', file, '--list'])
  t.match(list.stdout, new RegExp(`^${redis.url.replace(/[.]/g, '\\.')} \\(prefix one:\\):\\n  jti "j-9" until \\d{4}-\\d\\d-\\d\\dT[^\\n]*\\n`))
  const removed = await run(['revoke', '--config', file, '--jti', 'j-9', '--remove'])
  t.equal(removed.stdout, `${redis.url} (prefix one:): jti "j-9" no longer revoked\n${redis.url} (prefix two:): jti "j-9" no longer revoked\n`)
})

t.test('revoke: usage mistakes and a config without revocation.redis', async (t) => {
  const dir = tempDir(t)
  const file = writeJson(join(dir, 'plain.json'), { jwt: { secret: SECRET }, routes: [{ prefix: '/', upstream: 'http://127.0.0.1:9' }] })
  const none = await run(['revoke', '--config', file, '--sub', 'x'])
  t.equal(none.code, 1)
  t.equal(none.stderr, `fastify-jwt-gateway: ${file}: no policy has "revocation": { "redis": ... }; nothing to write to\n`)
  const two = await run(['revoke', '--config', file, '--sub', 'x', '--kid', 'y'])
  t.equal(two.stderr, 'fastify-jwt-gateway: give one of --sub, --kid, --jti, got --sub and --kid\n')
  const nothing = await run(['revoke', '--config', file])
  t.equal(nothing.stderr, 'fastify-jwt-gateway: give --sub, --kid or --jti (or --list)\n')
  const ttl = await run(['revoke', '--config', file, '--sub', 'x', '--ttl', '1h'])
  t.equal(ttl.stderr, "fastify-jwt-gateway: --ttl must be a whole number of seconds, got '1h'\n")
  const help = await run(['revoke', '--help'])
  t.match(help.stdout, /Usage: fastify-jwt-gateway revoke --config <file>/)
})

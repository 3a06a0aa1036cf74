import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t from 'tap'

// The examples run as a reader would run them: `node examples/x.mjs`, against
// the built packages (dist/). Each exits non-zero when an answer is not the
// one it shows.

const run = promisify(execFile)
const dir = join(__dirname, '..')

t.test('run-demo.mjs: 200 public, 401 without a token, 200 with one, 403 without the role', async (t) => {
  const { stdout } = await run(process.execPath, [join(dir, 'run-demo.mjs')], { timeout: 20_000 })
  t.match(stdout, /^401 +GET \/api\/leads +no token +FJG_ERR_TOKEN_MISSING/m)
  t.match(stdout, /^200 +GET \/api\/leads +token \(sales\) +identity at the upstream: \{"x-user-id":"ada","x-user-role":"sales"\}/m)
  t.match(stdout, /^403 +GET \/api\/employees +token \(sales\)/m)
  t.match(stdout, /^as expected$/m)
})

t.test('embed.mjs: the plugin in a plain Fastify service', async (t) => {
  const { stdout } = await run(process.execPath, [join(dir, 'embed.mjs')], { timeout: 20_000 })
  t.match(stdout, /^200 GET \/status/m)
  t.match(stdout, /^401 GET \/crm\/leads +FJG_ERR_TOKEN_MISSING/m)
  t.match(stdout, /^200 GET \/crm\/leads \(token\) 3 leads, identity at the upstream: \{"x-user-id":"ada"\}/m)
})

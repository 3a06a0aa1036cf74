import t from 'tap'
import * as errors from '../src/errors.js'
import { UserError } from '../src/index.js'

// Pins the preset's table: every error a command stops with is made by one of
// these constructors, and scripts may match on the code (`err.code`). A new
// code is appended here and in the README's list.
const expected = [
  'FJG_ERR_CONFIG_READ', 'FJG_ERR_CONFIG_SYNTAX', 'FJG_ERR_CONFIG_ENV', 'FJG_ERR_CONFIG_INVALID', 'FJG_ERR_CLI_USAGE',
  'FJG_ERR_LISTEN', 'FJG_ERR_CHECK_STRICT', 'FJG_ERR_PID_FILE', 'FJG_ERR_REVOKE_STORE', 'FJG_ERR_TOKEN_KEY'
]

t.test('the error table', async (t) => {
  const table = Object.entries(errors).filter(([k]) => k.startsWith('FJG_ERR_')) as Array<[string, errors.UserErrorConstructor]>
  t.equal(table.length, expected.length, 'count')
  t.same(table.map(([k]) => k).sort(), [...expected].sort(), 'these codes')
  t.equal(Object.keys(errors).length, expected.length + 1, 'and UserError, nothing else')
  for (const [key, Ctor] of table) {
    const err = new Ctor('a headline')
    t.equal(err.code, key, `${key}: key === code`)
    t.equal(err.statusCode, 500, `${key}: status (never sent: a command stops)`)
    t.equal(err.message, 'a headline', `${key}: message`)
    t.same(err.problems, [], `${key}: no problems`)
    t.ok(err instanceof UserError && err instanceof Error && err instanceof Ctor, `${key}: a UserError of its own kind`)
    t.equal(err.name, 'UserError')
  }
  t.notOk(new errors.FJG_ERR_LISTEN('x') instanceof errors.FJG_ERR_CLI_USAGE, 'instanceof tells the codes apart')
})

t.test('one indented line per problem, as the CLI prints it', async (t) => {
  const err = new errors.FJG_ERR_CONFIG_INVALID('gateway.json: invalid configuration', ['server.prot: unknown key', 'jwt.leeway: 100% wrong'])
  t.equal(err.message, 'gateway.json: invalid configuration\n  server.prot: unknown key\n  jwt.leeway: 100% wrong')
  t.same(err.problems, ['server.prot: unknown key', 'jwt.leeway: 100% wrong'])
  t.equal(err.code, 'FJG_ERR_CONFIG_INVALID')
  t.equal(new errors.FJG_ERR_CLI_USAGE('a %s and %d stay as written').message, 'a %s and %d stay as written', 'no format placeholders in a headline')
})

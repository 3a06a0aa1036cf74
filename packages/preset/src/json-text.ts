// JSON.parse's messages under Node 20 name a position only for some errors
// ("Unexpected token '}', ... is not valid JSON" has none), so on a syntax error
// the text is scanned again by this small strict parser (RFC 8259), which only
// finds where and why it fails. It runs once, on the error path.

export interface JsonSyntaxProblem {
  line: number
  column: number
  message: string
}

/** 1-based line and column of a character offset. */
export function lineColumn (text: string, offset: number): { line: number, column: number } {
  let line = 1
  let start = 0
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++
      start = i + 1
    }
  }
  return { line, column: offset - start + 1 }
}

class Stop extends Error {
  constructor (readonly offset: number, message: string) {
    super(message)
  }
}

function show (ch: string | undefined): string {
  return ch === undefined ? 'end of file' : JSON.stringify(ch)
}

/** The first syntax error of `text`, or null when it is valid JSON. */
export function findJsonSyntaxError (text: string): JsonSyntaxProblem | null {
  let i = 0
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++
  }
  const fail = (message: string, at = i): never => {
    throw new Stop(at, message)
  }
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length
    else fail(`unexpected ${show(text[i])}, expected a value`)
  }
  const string = (): void => {
    const open = i++
    while (true) {
      const c = text[i]
      if (c === undefined) fail('unterminated string', open)
      if (c === '"') {
        i++
        return
      }
      if ((c as string).charCodeAt(0) < 0x20) fail('line break or control character inside a string (escape it)')
      if (c === '\\') {
        const e = text[i + 1]
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) fail('bad \\u escape in a string')
          i += 6
        } else if (e !== undefined && '"\\/bfnrt'.includes(e)) {
          i += 2
        } else {
          fail(`bad escape \\${e ?? ''} in a string`)
        }
      } else {
        i++
      }
    }
  }
  const number = (): void => {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400))
    if (m === null || m[0] === '-') fail(`unexpected ${show(text[i])}, expected a value`)
    i += (m as RegExpExecArray)[0].length
  }
  const value = (): void => {
    ws()
    const c = text[i]
    if (c === '{') return object()
    if (c === '[') return array()
    if (c === '"') return string()
    if (c === 't') return literal('true')
    if (c === 'f') return literal('false')
    if (c === 'n') return literal('null')
    if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return number()
    if (c === '}' || c === ']') fail(`unexpected ${show(c)}, expected a value (a trailing comma?)`)
    if (c === "'") fail('strings must use double quotes')
    fail(`unexpected ${show(c)}, expected a value`)
  }
  const object = (): void => {
    i++
    ws()
    if (text[i] === '}') {
      i++
      return
    }
    while (true) {
      ws()
      if (text[i] === '}') fail('trailing comma before "}"')
      if (text[i] !== '"') fail(`expected a double-quoted property name, got ${show(text[i])}`)
      string()
      ws()
      if (text[i] !== ':') fail(`expected ":" after the property name, got ${show(text[i])}`)
      i++
      value()
      ws()
      if (text[i] === ',') {
        i++
        continue
      }
      if (text[i] === '}') {
        i++
        return
      }
      fail(`expected "," or "}" after a property value, got ${show(text[i])}`)
    }
  }
  const array = (): void => {
    i++
    ws()
    if (text[i] === ']') {
      i++
      return
    }
    while (true) {
      ws()
      if (text[i] === ']') fail('trailing comma before "]"')
      value()
      ws()
      if (text[i] === ',') {
        i++
        continue
      }
      if (text[i] === ']') {
        i++
        return
      }
      fail(`expected "," or "]" after an array item, got ${show(text[i])}`)
    }
  }
  try {
    ws()
    if (i === text.length) fail('the file is empty')
    value()
    ws()
    if (i < text.length) fail(`unexpected ${show(text[i])} after the end of the JSON document`)
    return null
  } catch (err) {
    if (!(err instanceof Stop)) throw err
    return { ...lineColumn(text, err.offset), message: err.message }
  }
}

// A small nginx config reader: tokens (words, quoted strings, `{ } ;`, `#`
// comments) → a tree of directives, each with its line. No npm parser fit:
// the maintained ones are crossplane bindings (Python, a child process) or
// unmaintained for years; nginx syntax is small enough to read here.

export interface Directive {
  name: string
  args: string[]
  line: number
  /** The `{ ... }` block, or null for a simple directive. */
  block: Directive[] | null
}

interface Token { text: string, line: number, quoted: boolean }

export class NginxSyntaxError extends Error {
  readonly line: number
  constructor (line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.line = line
  }
}

function tokenize (text: string): Token[] {
  const out: Token[] = []
  let line = 1
  let i = 0
  while (i < text.length) {
    const c = text[i] as string
    if (c === '\n') { line++; i++; continue }
    if (c === ' ' || c === '\t' || c === '\r') { i++; continue }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++
      continue
    }
    if (c === '{' || c === '}' || c === ';') { out.push({ text: c, line, quoted: false }); i++; continue }
    if (c === '"' || c === "'") {
      const start = line
      let s = ''
      i++
      while (i < text.length && text[i] !== c) {
        // nginx unescapes \" \' \\ inside quotes and keeps other backslashes.
        if (text[i] === '\\' && i + 1 < text.length && (text[i + 1] === c || text[i + 1] === '\\')) { s += text[i + 1]; i += 2; continue }
        if (text[i] === '\n') line++
        s += text[i]
        i++
      }
      if (i >= text.length) throw new NginxSyntaxError(start, 'unterminated quoted string')
      i++
      out.push({ text: s, line: start, quoted: true })
      continue
    }
    let s = ''
    while (i < text.length && !/[\s;{}"'#]/.test(text[i] as string)) {
      // `${name}` keeps its braces: they are part of a variable, not a block.
      if (text[i] === '$' && text[i + 1] === '{') {
        const end = text.indexOf('}', i)
        // eslint-disable-next-line no-template-curly-in-string -- a literal placeholder, not a template
        if (end === -1) throw new NginxSyntaxError(line, 'unterminated ${...} variable')
        s += text.slice(i, end + 1)
        i = end + 1
        continue
      }
      s += text[i]
      i++
    }
    out.push({ text: s, line, quoted: false })
  }
  return out
}

/** Parses nginx config text into directives; throws NginxSyntaxError with the line. */
export function parseNginx (text: string): Directive[] {
  const tokens = tokenize(text)
  let pos = 0
  function block (depth: number): Directive[] {
    const out: Directive[] = []
    while (pos < tokens.length) {
      const tok = tokens[pos] as Token
      if (tok.text === '}' && !tok.quoted) {
        if (depth === 0) throw new NginxSyntaxError(tok.line, "unexpected '}'")
        pos++
        return out
      }
      if ((tok.text === '{' || tok.text === ';') && !tok.quoted) throw new NginxSyntaxError(tok.line, `unexpected '${tok.text}'`)
      const d: Directive = { name: tok.text, args: [], line: tok.line, block: null }
      pos++
      for (;;) {
        const next = tokens[pos]
        if (next === undefined) throw new NginxSyntaxError(d.line, `directive '${d.name}' has no ending ';' or '}'`)
        pos++
        if (!next.quoted && next.text === ';') break
        if (!next.quoted && next.text === '{') { d.block = block(depth + 1); break }
        if (!next.quoted && next.text === '}') throw new NginxSyntaxError(next.line, "unexpected '}'")
        d.args.push(next.text)
      }
      out.push(d)
    }
    if (depth > 0) throw new NginxSyntaxError(tokens[tokens.length - 1]?.line ?? 1, "unexpected end of file, expecting '}'")
    return out
  }
  return block(0)
}

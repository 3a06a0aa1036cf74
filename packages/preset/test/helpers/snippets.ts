// Fenced code blocks of the documentation, as the README snippet test reads
// them. A block may be preceded (blank lines aside) by one marker comment that
// says how it is checked:
//
//   <!-- snippet: fragment -->          not checked (a piece of a larger file, an output); counted and listed
//   <!-- snippet: run <name> -->        js/ts: type-checked, then run by the test's `<name>` scenario
//   <!-- snippet: policy -->            json/jsonc: a `jwt` policy, validated inside a config
//   <!-- snippet: route -->             json/jsonc: one `routes[]` entry, validated inside a config
//
// Unmarked: a js/ts block is a complete module and is type-checked; a
// json/jsonc block is a whole gateway.json and passes `check`; an sh block is
// checked by `bash -n` and every `fastify-jwt-gateway` command line in it by
// the command's own option parser.

export const CHECKED_LANGUAGES = ['js', 'ts', 'json', 'jsonc', 'sh'] as const
export type Language = typeof CHECKED_LANGUAGES[number]

export const KINDS: Record<Language, readonly string[]> = {
  js: ['module', 'run', 'fragment'],
  ts: ['module', 'run', 'fragment'],
  json: ['config', 'policy', 'route', 'fragment'],
  jsonc: ['config', 'policy', 'route', 'fragment'],
  sh: ['shell', 'fragment']
}

export interface Snippet {
  /** The document, relative to the repository root. */
  doc: string
  /** Line of the opening fence (1-based). */
  line: number
  lang: Language
  kind: string
  /** The scenario of a `run` snippet. */
  name: string | null
  code: string
}

export interface Extracted {
  snippets: Snippet[]
  /** Mistakes in the markers themselves (unknown kind, a marker on an unchecked language, ...). */
  problems: string[]
}

const MARKER = /^<!--\s*snippet:\s*([a-z-]+)(?:\s+([\w-]+))?\s*-->$/
const FENCE = /^(\s*)(`{3,}|~{3,})\s*([\w+-]*)\s*$/

function isLanguage (lang: string): lang is Language {
  return (CHECKED_LANGUAGES as readonly string[]).includes(lang)
}

export function extractSnippets (doc: string, text: string): Extracted {
  const lines = text.split('\n')
  const snippets: Snippet[] = []
  const problems: string[] = []
  let marker: { kind: string, name: string | null, line: number } | null = null
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string
    const m = MARKER.exec(line.trim())
    if (m !== null) {
      if (marker !== null) problems.push(`${doc}:${marker.line}: a snippet marker not followed by a code block`)
      marker = { kind: m[1] as string, name: m[2] ?? null, line: i + 1 }
      continue
    }
    const fence = FENCE.exec(line)
    if (fence === null) {
      if (line.trim() !== '' && marker !== null) {
        problems.push(`${doc}:${marker.line}: a snippet marker not followed by a code block`)
        marker = null
      }
      continue
    }
    const [, indent, ticks, lang] = fence as unknown as [string, string, string, string]
    const start = i + 1
    const body: string[] = []
    for (i++; i < lines.length; i++) {
      const l = lines[i] as string
      if (l.trim().startsWith(ticks) && l.trim().replace(/[`~]/g, '') === '') break
      body.push(l.startsWith(indent) ? l.slice(indent.length) : l)
    }
    if (!isLanguage(lang)) {
      if (marker !== null) problems.push(`${doc}:${marker.line}: a snippet marker on a '${lang}' block, which is not checked`)
      marker = null
      continue
    }
    const kind = marker?.kind ?? (KINDS[lang][0] as string)
    if (!KINDS[lang].includes(kind)) problems.push(`${doc}:${start}: '${kind}' is not a snippet kind for ${lang} (${KINDS[lang].join(', ')})`)
    if (kind === 'run' && marker?.name == null) problems.push(`${doc}:${start}: a 'run' snippet needs a scenario name`)
    snippets.push({ doc, line: start, lang, kind, name: marker?.name ?? null, code: body.join('\n') + '\n' })
    marker = null
  }
  if (marker !== null) problems.push(`${doc}:${marker.line}: a snippet marker not followed by a code block`)
  return { snippets, problems }
}

/** JSON with `//` and `/* *\/` comments (jsonc) to JSON: comments outside strings become spaces. */
export function stripJsonComments (text: string): string {
  let out = ''
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string
    if (inString) {
      out += c
      if (c === '\\') { out += text[++i] ?? ''; continue }
      if (c === '"') inString = false
      continue
    }
    if (c === '"') { inString = true; out += c; continue }
    if (c === '/' && text[i + 1] === '/') {
      while (i < text.length && text[i] !== '\n') i++
      out += '\n'
      continue
    }
    if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2)
      i = end === -1 ? text.length : end + 1
      out += ' '
      continue
    }
    out += c
  }
  return out
}

/**
 * GitHub's heading anchors: lower case, punctuation other than `-` and `_`
 * removed, spaces to `-`; a repeated heading gets `-1`, `-2`, ...
 */
export function headingAnchors (text: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  let inFence = false
  for (const line of text.split('\n')) {
    if (FENCE.test(line)) { inFence = !inFence; continue }
    if (inFence) continue
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)
    if (m === null) continue
    const slug = (m[1] as string).toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    anchors.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return anchors
}

/** `[text](target)` links outside code blocks and inline code, with their line. */
export function markdownLinks (text: string): Array<{ line: number, target: string }> {
  const out: Array<{ line: number, target: string }> = []
  let inFence = false
  text.split('\n').forEach((line, i) => {
    if (FENCE.test(line)) { inFence = !inFence; return }
    if (inFence) return
    const prose = line.replace(/`[^`]*`/g, '')
    for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push({ line: i + 1, target: m[1] as string })
  })
  return out
}

/**
 * Shell words of a command line (single and double quotes, backslash), cut
 * at the first operator (`|`, `&&`, `;`, `>`, `&`) or comment.
 */
export function shellWords (line: string): string[] {
  const words: string[] = []
  let word: string | null = null
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      word = (word ?? '') + line.slice(i + 1, end === -1 ? line.length : end)
      i = end === -1 ? line.length : end
    } else if (c === '"') {
      let j = i + 1
      let s = ''
      for (; j < line.length && line[j] !== '"'; j++) s += line[j] === '\\' ? (line[++j] ?? '') : line[j]
      word = (word ?? '') + s
      i = j
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '')
    } else if (/\s/.test(c)) {
      if (word !== null) words.push(word)
      word = null
    } else if ('|;&>'.includes(c) || (c === '#' && word === null)) {
      break
    } else {
      word = (word ?? '') + c
    }
  }
  if (word !== null) words.push(word)
  return words
}

// Plain-text tables for the terminal and for pasting into notes (markdown-compatible).

/**
 * @param {string[]} head column titles
 * @param {string[][]} rows cells, already formatted
 * @param {{ right?: number[], groupBy?: number }} opts right-aligned columns; a
 *   column whose change starts a new visual group (a separator row)
 */
export function formatTable (head, rows, opts = {}) {
  const right = new Set(opts.right ?? [])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)))
  const cell = (v, i) => right.has(i) ? String(v).padStart(widths[i]) : String(v).padEnd(widths[i])
  const line = (r) => `| ${r.map(cell).join(' | ')} |`
  const sep = `|${widths.map((w, i) => right.has(i) ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2)).join('|')}|`
  const out = [line(head), sep]
  let group = null
  for (const r of rows) {
    let shown = r
    if (opts.groupBy !== undefined) {
      // Blank the repeated group key: easier to scan, still valid markdown.
      const g = r[opts.groupBy]
      if (g === group) shown = r.map((v, i) => i === opts.groupBy ? '' : v)
      group = g
    }
    out.push(line(shown))
  }
  return out.join('\n')
}

/** A file-name-safe UTC timestamp: 2025-01-31T12-00-00Z. */
export function stamp (date = new Date()) {
  return date.toISOString().replace(/\.\d+Z$/, 'Z').replace(/:/g, '-')
}

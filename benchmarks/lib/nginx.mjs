// nginx `proxy_pass` as the reference edge, when an nginx binary is on PATH.
// The config is written into a fresh temp dir and nginx runs in the
// foreground (`daemon off`) as a tracked child, so it is stopped like the
// Node servers; nothing outside the temp dir is read or written.

import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, spawnTracked, stop } from './children.mjs'
import { waitForHttp } from './load.mjs'

export const INSTALL_HINT = 'nginx is not on PATH: the nginx variant is skipped. To include it: apt-get install -y nginx (Debian/Ubuntu), then run again.'

/** `nginx version: nginx/1.22.1`, or null when there is no nginx on PATH. */
export function nginxVersion () {
  const r = spawnSync('nginx', ['-v'], { encoding: 'utf8', timeout: 5000 })
  if (r.error || r.status !== 0) return null
  return (r.stderr || r.stdout).trim()
}

function userLine () {
  // As root, nginx drops its workers to "nobody"; Debian has no "nobody" group.
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return ''
  let groups = ''
  try { groups = readFileSync('/etc/group', 'utf8') } catch {}
  return /^nogroup:/m.test(groups) ? 'user nobody nogroup;' : ''
}

export function nginxConfig ({ dir, port, upstreamPort }) {
  return `# Written by benchmarks/run.mjs for one run; deleted afterwards.
# One worker: the Node servers it is compared with are one process each.
worker_processes 1;
${userLine()}
pid ${dir}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  # Kept-alive upstream connections, as the Node proxies keep theirs.
  upstream origin {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
  }
  server {
    listen 127.0.0.1:${port};
    location /api/ {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`
}

/** Starts nginx in front of the origin; resolves with { child, port, close }. */
export async function startNginx ({ upstreamPort, token }) {
  const dir = mkdtempSync(join(tmpdir(), 'fjg-bench-nginx-'))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  writeFileSync(conf, nginxConfig({ dir, port, upstreamPort }))
  // -e stderr: the early error log, before the config is read (nginx ≥ 1.19.5).
  const child = spawnTracked('nginx', 'nginx', ['-e', 'stderr', '-p', dir, '-c', conf, '-g', 'daemon off;'])
  const close = async () => {
    await stop(child)
    rmSync(dir, { recursive: true, force: true })
  }
  try {
    await waitForHttp(port, token, 10_000, () => !child.exited)
    if (child.exited) throw new Error(`nginx exited:\n${child.stderr}`)
  } catch (err) {
    await close()
    throw new Error(`nginx did not start: ${err.message}\n${child.stderr}`)
  }
  return { child, port, close }
}

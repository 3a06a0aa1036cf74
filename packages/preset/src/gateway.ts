import type { FastifyInstance } from 'fastify'
import type { JwtPolicy } from '@fastify-jwt-gateway/jwt-auth'
import * as gateway from '@fastify-jwt-gateway/gateway'

// The one place the preset meets the gateway package: its config shape, its
// schema and its builder. The types restate the contract the preset is written
// against (shared/DESIGN.md, "The preset's JSON config").

export interface ServerConfig {
  host?: string
  port?: number
  logLevel?: string
  healthPath?: string
  workers?: number | 'auto'
}

export interface RouteConfig {
  prefix: string
  upstream: string
  rewritePrefix?: string
  methods?: string[]
  websocket?: boolean
  jwt?: Partial<JwtPolicy> | false
}

export interface GatewayConfig {
  $schema?: string
  server?: ServerConfig
  jwt?: JwtPolicy | false
  routes: RouteConfig[]
}

export interface BuildOptions {
  baseDir?: string
  logger?: boolean | Record<string, unknown>
}

interface GatewayModule {
  buildGateway (config: GatewayConfig, opts: BuildOptions): Promise<FastifyInstance>
  gatewayConfigSchema: Record<string, unknown>
  gatewayConfigProblems (config: unknown): string[]
}

const api = gateway as unknown as Partial<GatewayModule>

function need<K extends keyof GatewayModule> (name: K): GatewayModule[K] {
  const v = api[name]
  // A build-order problem, not a user error: say what is missing.
  if (v === undefined) throw new Error(`@fastify-jwt-gateway/gateway does not export ${name} (is it built?)`)
  return v
}

export function buildGateway (config: GatewayConfig, opts: BuildOptions): Promise<FastifyInstance> {
  return need('buildGateway')(config, opts)
}

export function gatewayConfigProblems (config: unknown): string[] {
  return need('gatewayConfigProblems')(config)
}

export function gatewayConfigSchema (): Record<string, unknown> {
  return need('gatewayConfigSchema')
}

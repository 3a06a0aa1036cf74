export { createDemoUpstream, DEMO_LEADS, DEMO_EMPLOYEES, type DemoUpstreamOptions } from './demo-upstream.js'

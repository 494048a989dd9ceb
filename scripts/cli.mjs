// npm run cli -- <command>: the admin API from a terminal.
//   workspaces list | workspaces create <name> | workspaces budget <workspace-id> <tokens per month | none>
//   keys create <workspace-id> [name] | keys revoke <key-id>
//   usage <workspace-id> [start-unix-seconds] [end-unix-seconds]
// Reads VENNA_URL (default http://localhost:3000) and ADMIN_API_KEY.
const base = (process.env.VENNA_URL ?? 'http://localhost:3000').replace(/\/+$/, '');
const adminKey = process.env.ADMIN_API_KEY;
const [group, action, ...rest] = process.argv.slice(2);

const routes = {
  'workspaces list': () => ['GET', '/admin/workspaces'],
  'workspaces create': ([name]) => name && ['POST', '/admin/workspaces', { name }],
  'workspaces budget': ([workspaceId, tokens]) =>
    workspaceId &&
    /^(\d+|none)$/.test(tokens ?? '') && [
      'PATCH',
      `/admin/workspaces/${workspaceId}`,
      { monthly_token_budget: tokens === 'none' ? null : Number(tokens) },
    ],
  'keys create': ([workspaceId, name]) =>
    workspaceId && ['POST', `/admin/workspaces/${workspaceId}/api-keys`, name ? { name } : {}],
  'keys revoke': ([keyId]) => keyId && ['DELETE', `/admin/api-keys/${keyId}`],
  usage: ([workspaceId, start, end]) => {
    if (!workspaceId) {
      return null;
    }
    const query = new URLSearchParams({ ...(start ? { start_time: start } : {}), ...(end ? { end_time: end } : {}) });
    return ['GET', `/admin/workspaces/${workspaceId}/usage${query.size ? `?${query}` : ''}`];
  },
};

const route = group === 'usage' ? routes.usage([action, ...rest]) : routes[`${group} ${action}`]?.(rest);
if (!route) {
  process.stderr.write(
    'usage: npm run cli -- workspaces list | workspaces create <name> | workspaces budget <workspace-id> <tokens|none> | keys create <workspace-id> [name] | keys revoke <key-id> | usage <workspace-id> [start] [end]\n',
  );
  process.exit(2);
}
if (!adminKey) {
  process.stderr.write('ADMIN_API_KEY is not set\n');
  process.exit(2);
}
const [method, path, body] = route;
const response = await fetch(`${base}${path}`, {
  method,
  headers: { authorization: `Bearer ${adminKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
  body: body ? JSON.stringify(body) : undefined,
});
const text = await response.text();
process.stdout.write(`${text}\n`);
process.exit(response.ok ? 0 : 1);

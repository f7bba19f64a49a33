// Which part of the server a request path belongs to.

/** Whether `path` is `base` itself or a path below it (`/admin/v1`, `/admin/v1/agents`; not `/admin/v10`). */
export const isUnder = (path: string, base: string): boolean => path === base || path.startsWith(`${base}/`);

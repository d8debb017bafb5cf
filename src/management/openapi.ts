export const openApiDocument = { openapi: '3.1.0', info: { title: 'Ferry management API', version: '1' }, paths: {} } as const;

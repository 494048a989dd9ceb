# Two images from one build: `runtime` (the default, last stage) holds the api and the worker, which
# docker-compose.yml starts with different commands; `stub-upstream` holds the stand-in LLM for demos only.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# package.json's allowScripts denies @scarf/scarf's install-time telemetry ping (from swagger-ui-dist); an npm
# that predates allowScripts would still run it, and this turns it off there too.
ENV SCARF_ANALYTICS=false
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json ./
COPY apps ./apps
COPY libs ./libs
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim AS base
WORKDIR /app
ENV NODE_ENV=production \
    LOG_FORMAT=json
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules

FROM base AS stub-upstream
COPY --from=build --chown=node:node /app/dist/apps/stub-upstream ./dist/apps/stub-upstream
USER node
EXPOSE 4010
CMD ["node", "dist/apps/stub-upstream/src/main.js"]

FROM base AS runtime
ENV STORAGE_DIR=/data/files
RUN mkdir -p /data/files && chown -R node:node /data
COPY --from=build --chown=node:node /app/dist/apps/api ./dist/apps/api
COPY --from=build --chown=node:node /app/dist/apps/worker ./dist/apps/worker
COPY --from=build --chown=node:node /app/dist/libs ./dist/libs
USER node
# The api's port; a worker serves its health and metrics on 9464 (WORKER_HTTP_PORT).
EXPOSE 3000 9464
CMD ["node", "dist/apps/api/src/main.js"]

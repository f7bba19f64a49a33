# agentauth server image. Build: docker build -t agentauth .   (docker-compose.yml runs it with PostgreSQL)
# `.ci/docker-replay.mjs` replays the build stage without Docker (CI runs it): keep COPY and RUN lines simple.
FROM node:24-bookworm-slim AS build
WORKDIR /app
# Dependencies first (a layer that survives source edits). Install scripts are off: `postinstall` would generate and
# build before the sources are here, and nothing this image needs has an install script it cannot do without
# (argon2 ships prebuilt binaries; the embedded PostgreSQL package is not used with DATABASE_URL).
COPY package.json package-lock.json ./
# The npm workspace (@agentauth/verify, the resource servers' verifier) is part of the install and the build.
COPY packages ./packages
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
COPY prisma ./prisma
COPY src ./src
COPY bin ./bin
RUN npx prisma generate && npm run build && npm prune --omit=dev --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/generated ./generated
COPY --from=build /app/bin ./bin
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
COPY views ./views
# The CLI on the PATH: `docker compose exec agentauth agentauth users create ...`.
RUN ln -s /app/bin/agentauth.mjs /usr/local/bin/agentauth
# The image's own user (uid 1000 in node images), never root.
USER node
EXPOSE 3000
# Migrations are applied at start under an advisory lock, so several replicas may start at once.
CMD ["node", "--max-semi-space-size=32", "--v8-pool-size=0", "dist/src/main.js"]

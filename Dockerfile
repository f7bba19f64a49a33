# agentauth server image. Build: docker build -t agentauth .   (docker-compose.yml runs it with PostgreSQL)
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma ./prisma
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/generated ./generated
COPY package.json prisma.config.ts ./
COPY prisma ./prisma
COPY views ./views
USER node
EXPOSE 3000
# Migrations are applied at start under an advisory lock, so several replicas may start at once.
CMD ["node", "dist/src/main.js"]

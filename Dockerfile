# mcpmesh: control plane, adapter and CLI in one image (Envoy comes from its
# own image in docker-compose.yml). The build stage compiles with the dev
# toolchain; the image itself holds production dependencies and the compiled
# CLI only, no tests or benches.
FROM node:20-bookworm-slim AS build
WORKDIR /opt/mcpmesh
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY control-plane ./control-plane
COPY adapter ./adapter
COPY lib ./lib
COPY envoy ./envoy
RUN npx tsc -p tsconfig.build.json

FROM node:20-bookworm-slim
WORKDIR /opt/mcpmesh
# openssl: `mcpmesh dev-ca` (docker-compose.tls.yml makes the stack's certificates with it).
RUN apt-get update && apt-get install -y --no-install-recommends openssl && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
# The demo's stdio server (docker-compose.yml runs it behind two adapters),
# apart from mcpmesh's own dependencies.
RUN npm install --prefix /opt/demo --no-audit --no-fund @modelcontextprotocol/server-everything@2026.8.31
COPY --from=build /opt/mcpmesh/dist ./dist
ENTRYPOINT ["node", "/opt/mcpmesh/dist/cli/mcpmesh.js"]

# mcpmesh: control plane, adapter and CLI in one image (Envoy comes from its
# own image in docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /opt/mcpmesh
COPY package.json package-lock.json ./
# Dev dependencies included: the compose demo runs @modelcontextprotocol/server-everything.
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY cli ./cli
COPY control-plane ./control-plane
COPY adapter ./adapter
COPY lib ./lib
COPY envoy ./envoy
COPY filters ./filters
COPY test ./test
COPY bench ./bench
RUN npx tsc -p tsconfig.json
ENTRYPOINT ["node", "/opt/mcpmesh/dist/cli/mcpmesh.js"]

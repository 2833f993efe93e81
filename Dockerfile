# proflag sidecar image. Two stages: the build needs a C++ toolchain (hnswlib-node is a
# native addon) and the dev dependencies (TypeScript); the runtime needs neither.

FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# Dependencies first, so source edits reuse this layer.
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The operator console (/ui on the admin port), bundled by Vite into dist/ui.
COPY ui ./ui
RUN npm run build \
 && npm prune --omit=dev

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Loaded at run time: dist/extproc/protocol.js reads ../../proto; the example flags are the
# embedded file store used when no Redis answers.
COPY proto ./proto
COPY examples/flags ./examples/flags
USER node
# 50051: ext_proc gRPC (Envoy). 9464: /metrics, /healthz, /readyz, /explain, /ui (console).
EXPOSE 50051 9464
CMD ["node", "dist/main.js"]

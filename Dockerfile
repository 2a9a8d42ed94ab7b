# Runwarden images. Two targets:
#   docker build --target collector -t runwarden-collector .
#   docker build --target agent     -t runwarden-agent .
# The collector runs as a non-root user with its database on a volume. The agent watches the HOST, so it
# needs the host's PID namespace and the BPF capabilities (see systemd/README.md "Containers").

FROM node:24-bookworm-slim AS build
WORKDIR /src
# better-sqlite3 and node-pty compile if no prebuilt binary matches; clang, libbpf and bpftool build the libbpf
# sensor (dist/sensor; it needs the build host's /sys/kernel/btf/vmlinux, else the agent runs bpftrace).
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ clang llvm libbpf-dev bpftool && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY cli/package.json cli/runwarden.js cli/
RUN npm ci --ignore-scripts=false --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
WORKDIR /opt/runwarden
ENV NODE_ENV=production
COPY --from=build /src/package.json /src/package-lock.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/proto ./proto
# Read at run time next to dist/: the default rule pack (YAML).
COPY --from=build /src/collector/rules/default ./collector/rules/default
COPY --from=build /src/cli/package.json /src/cli/runwarden.js ./cli/
RUN ln -s /opt/runwarden/cli/runwarden.js /usr/local/bin/runwarden

FROM runtime AS collector
RUN groupadd --system runwarden && useradd --system --gid runwarden --home-dir /var/lib/runwarden --shell /usr/sbin/nologin runwarden \
 && install -d -o runwarden -g runwarden -m 0700 /var/lib/runwarden/collector
USER runwarden
VOLUME ["/var/lib/runwarden/collector"]
ENV RUNWARDEN_COLLECTOR_HOST=0.0.0.0 RUNWARDEN_COLLECTOR_DB=/var/lib/runwarden/collector/audit.db
EXPOSE 7443
STOPSIGNAL SIGTERM
ENTRYPOINT ["runwarden", "collector"]

# docker run -d --name runwarden-agent --pid=host --cgroupns=host \
#   --cap-drop=ALL --cap-add=BPF --cap-add=PERFMON --cap-add=SYS_ADMIN --cap-add=SYS_PTRACE \
#   --cap-add=DAC_READ_SEARCH --cap-add=SYS_RESOURCE --cap-add=NET_RAW --network=host \
#   --security-opt apparmor=unconfined --security-opt seccomp=unconfined \
#   -v /sys/kernel:/sys/kernel:ro -v /run/runwarden:/run/runwarden -v /var/lib/runwarden/agent:/var/lib/runwarden/agent \
#   -v /etc/runwarden:/etc/runwarden:ro -v /home:/home:ro runwarden-agent
FROM runtime AS agent
# libelf1: the libbpf sensor's one shared library beyond libc and zlib; bpftrace stays as its fallback.
RUN apt-get update && apt-get install -y --no-install-recommends libelf1 bpftrace strace git && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/agent/hooks ./agent/hooks
VOLUME ["/var/lib/runwarden/agent"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["runwarden", "agent"]
CMD ["--config", "/etc/runwarden/agent.yaml"]

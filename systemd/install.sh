#!/bin/sh
# Installs Runwarden from this checkout on a systemd host: code in /opt/runwarden, the command in
# /usr/local/bin, config in /etc/runwarden, units in /etc/systemd/system. Idempotent; run as root.
# usage: systemd/install.sh [agent|collector|both]   (default: agent)
set -eu
what="${1:-agent}"
case "$what" in agent|collector|both) ;; *) echo "usage: $0 [agent|collector|both]" >&2; exit 2 ;; esac
[ "$(id -u)" = 0 ] || { echo "$0: run as root" >&2; exit 2; }
src="$(cd "$(dirname "$0")/.." && pwd)"
prefix=/opt/runwarden

command -v node >/dev/null || { echo "$0: node (>= 20.19) is required" >&2; exit 2; }
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || { echo "$0: node >= 20.19 is required (found $(node --version))" >&2; exit 2; }
if [ "$what" != collector ] && ! command -v bpftrace >/dev/null; then
  echo "$0: warning: bpftrace not found (apt-get install bpftrace); the agent will fall back to a weaker sensor" >&2
fi

install -d -m 0755 "$prefix"
# Build output, contract, units and production dependencies; never the tests or the dev tools.
(cd "$src" && tar -cf - package.json package-lock.json cli/package.json cli/runwarden.js dist proto systemd agent/hooks \
  $( [ -d collector/rules ] && echo collector/rules )) | tar -xf - -C "$prefix"
(cd "$prefix" && npm ci --omit=dev --ignore-scripts=false --no-audit --no-fund >/dev/null)
ln -sf "$prefix/cli/runwarden.js" /usr/local/bin/runwarden

install -d -m 0755 /etc/runwarden
if [ "$what" != agent ]; then
  getent group runwarden >/dev/null || groupadd --system runwarden
  getent passwd runwarden >/dev/null || useradd --system --gid runwarden --home-dir /var/lib/runwarden --shell /usr/sbin/nologin runwarden
  [ -e /etc/runwarden/collector.yaml ] || install -m 0640 -g runwarden /dev/null /etc/runwarden/collector.yaml
  install -m 0644 "$src/systemd/runwarden-collector.service" /etc/systemd/system/
fi
if [ "$what" != collector ]; then
  # Holds the agent token: root only.
  [ -e /etc/runwarden/agent.yaml ] || install -m 0600 /dev/null /etc/runwarden/agent.yaml
  install -m 0644 "$src/systemd/runwarden-agent.service" /etc/systemd/system/
fi
systemctl daemon-reload
[ "$what" != agent ] && systemctl enable --now runwarden-collector.service
[ "$what" != collector ] && systemctl enable --now runwarden-agent.service
echo "installed: $what (edit /etc/runwarden/*.yaml, then: systemctl restart runwarden-*.service)"

#!/bin/sh
# GitLab Runner hook: config.toml [[runners]] pre_build_script = "/opt/runwarden/agent/hooks/gitlab-pre-build.sh".
# Runs inside the job's shell with its CI_* environment; its parent is that shell, the job root.
RUNWARDEN="${RUNWARDEN_BIN:-/usr/local/bin/runwarden}"
RUNWARDEN_JOB_ROOT_PID="$PPID" "$RUNWARDEN" job start ${RUNWARDEN_SOCKET:+--socket "$RUNWARDEN_SOCKET"} \
  || echo "runwarden: warning: job start not registered with the runwarden agent (exit $?)" >&2
exit 0

#!/bin/sh
# GitLab Runner hook: config.toml [[runners]] post_build_script = "/opt/runwarden/agent/hooks/gitlab-post-build.sh".
# GitLab runs post_build_script even when the job script failed; CI_JOB_STATUS carries the outcome.
RUNWARDEN="${RUNWARDEN_BIN:-/usr/local/bin/runwarden}"
RUNWARDEN_JOB_ROOT_PID="$PPID" "$RUNWARDEN" job end ${RUNWARDEN_SOCKET:+--socket "$RUNWARDEN_SOCKET"} \
  || echo "runwarden: warning: job end not registered with the runwarden agent (exit $?)" >&2
exit 0

#!/bin/sh
# GitHub Actions runner hook (ACTIONS_RUNNER_HOOK_JOB_COMPLETED): ends the job; the agent reports processes
# of the job still alive (persistence on reused runners) and writes the step summary where it can.
RUNWARDEN="${RUNWARDEN_BIN:-/usr/local/bin/runwarden}"
RUNWARDEN_JOB_ROOT_PID="$PPID" "$RUNWARDEN" job end ${RUNWARDEN_SOCKET:+--socket "$RUNWARDEN_SOCKET"} \
  || echo "::warning title=runwarden::job end not registered with the runwarden agent (exit $?)"
exit 0

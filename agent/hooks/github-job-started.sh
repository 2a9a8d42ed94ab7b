#!/bin/sh
# GitHub Actions runner hook (ACTIONS_RUNNER_HOOK_JOB_STARTED): registers the job with the local agent.
# The runner runs this with the job's GITHUB_* environment; its parent is the Runner.Worker, the job root.
# Never fails the job: an unreachable agent is reported by the agent's own status and missed heartbeats.
RUNWARDEN="${RUNWARDEN_BIN:-/usr/local/bin/runwarden}"
RUNWARDEN_JOB_ROOT_PID="$PPID" "$RUNWARDEN" job start ${RUNWARDEN_SOCKET:+--socket "$RUNWARDEN_SOCKET"} \
  || echo "::warning title=runwarden::job start not registered with the runwarden agent (exit $?)"
exit 0

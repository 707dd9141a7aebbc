#!/usr/bin/env bash
# Step 2 of the GitHub Action (action.yml): runs `leakcheck run` with the action's inputs and
# records, without failing the step, its exit status and the files to upload (the reports it
# wrote and the kept heap snapshots), so that the upload step runs before the last step fails
# the job on exit status 1 (a route leaked or regressed) or 2 (leakcheck could not do its job).
# Run in the action's working-directory. Every input arrives as an environment variable.
set -euo pipefail

: "${SPEC:=leakspec.toml}" "${JUNIT:=}" "${JSON:=}" "${HTML:=}" "${SHARD:=}" "${KEEP_SNAPSHOTS:=}"
: "${ARGS:=}" "${ARTIFACT_NAME:=}" "${GITHUB_OUTPUT:?}"

args=(run --spec "$SPEC")
[ -z "$JUNIT" ] || args+=(--junit "$JUNIT")
[ -z "$JSON" ] || args+=(--json "$JSON")
# --html only when asked for, so that the action works with a leakcheck without it too.
[ -z "$HTML" ] || args+=(--html "$HTML")
[ -z "$SHARD" ] || args+=(--shard "$SHARD")
[ -z "$KEEP_SNAPSHOTS" ] || args+=(--keep-snapshots "$KEEP_SNAPSHOTS")
if [ -n "$ARGS" ]; then
  read -r -a extra <<<"$ARGS"
  args+=("${extra[@]}")
fi

echo "leakcheck ${args[*]}"
set +e
leakcheck "${args[@]}"
status=$?
set -e

# Absolute paths: upload-artifact resolves relative ones against the workspace, not here.
abs() {
  case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac
}
paths=()
for file in "$JUNIT" "$JSON" "$HTML"; do
  if [ -n "$file" ] && [ -e "$file" ]; then paths+=("$(abs "$file")"); fi
done
snapshots=${KEEP_SNAPSHOTS:-leakcheck-snapshots}
if [ -d "$snapshots" ]; then paths+=("$(abs "$snapshots")"); fi
json_path=""
if [ -n "$JSON" ] && [ -e "$JSON" ]; then json_path=$(abs "$JSON"); fi

if [ -z "$ARTIFACT_NAME" ]; then
  if [ -n "$SHARD" ]; then
    ARTIFACT_NAME="leakcheck-shard-${SHARD/\//-of-}"
  else
    ARTIFACT_NAME=leakcheck-reports
  fi
fi

delimiter="leakcheck-paths-$RANDOM$RANDOM"
{
  echo "exit-code=$status"
  echo "artifact-name=$ARTIFACT_NAME"
  echo "json=$json_path"
  echo "paths<<$delimiter"
  if [ ${#paths[@]} -gt 0 ]; then printf '%s\n' "${paths[@]}"; fi
  echo "$delimiter"
} >>"$GITHUB_OUTPUT"

#!/bin/sh
# Runs `rolltest run` in CI and leaves every report where the CI templates
# collect them: result.json, report.html, junit.xml and summary.md in
# ROLLTEST_REPORT_DIR. It exits with rolltest's own exit code (0 pass,
# 1 dropped requests or a gate, 2 usage, 3 rollout failed, 130
# interrupted), so the job fails exactly when rolltest says so.
#
# GitLab (dist/ci/gitlab-ci.yml), Jenkins (dist/ci/Jenkinsfile) and the
# GitHub Action (action.yml, through dist/ci/github-action.sh) all run it.
#
# Environment:
#   ROLLTEST_ARGS        the arguments of `rolltest run`, split on blanks
#                        (quote nothing; put headers with spaces in a file
#                        via --body-file or use the CLI directly)
#   ROLLTEST_BIN         the rolltest binary (default: rolltest on the PATH,
#                        else the one beside this script's directory, as in
#                        a release archive)
#   ROLLTEST_REPORT_DIR  where the reports go (default: rolltest-report in
#                        the job's directory: $CI_PROJECT_DIR on GitLab,
#                        $WORKSPACE on Jenkins, $GITHUB_WORKSPACE on GitHub,
#                        else the current directory)
set -u

job_dir=.
job=""
if [ -n "${GITLAB_CI:-}" ] || [ -n "${CI_PROJECT_DIR:-}" ]; then
	job_dir=${CI_PROJECT_DIR:-.}
	job="GitLab job ${CI_JOB_ID:-?}"
elif [ -n "${JENKINS_HOME:-}" ] || [ -n "${JENKINS_URL:-}" ]; then
	job_dir=${WORKSPACE:-.}
	job="Jenkins build ${BUILD_NUMBER:-?}"
elif [ -n "${GITHUB_ACTIONS:-}" ]; then
	job_dir=${GITHUB_WORKSPACE:-.}
	job="GitHub run ${GITHUB_RUN_ID:-?}"
fi
dir=${ROLLTEST_REPORT_DIR:-$job_dir/rolltest-report}

bin=${ROLLTEST_BIN:-}
if [ -z "$bin" ]; then
	if command -v rolltest >/dev/null 2>&1; then
		bin=rolltest
	else
		bin=$(dirname "$0")/../rolltest
	fi
fi
if ! [ -x "$bin" ] && ! command -v "$bin" >/dev/null 2>&1; then
	echo "rolltest-ci: no rolltest binary: set ROLLTEST_BIN or put rolltest on the PATH" >&2
	exit 2
fi

# A workspace is reused from build to build (Jenkins) and a cache may bring
# an old one back: a report left from an earlier run must never be
# collected as this run's.
rm -rf "$dir"
mkdir -p "$dir" || exit 2

# ROLLTEST_ARGS is split on blanks on purpose: it is one CI variable.
# shellcheck disable=SC2086
"$bin" run ${ROLLTEST_ARGS:-} \
	--json "$dir/result.json" --html "$dir/report.html" \
	--junit "$dir/junit.xml" --markdown "$dir/summary.md" \
	--no-progress
code=$?
echo "rolltest-ci: ${job:+$job: }rolltest exited $code; reports in $dir" >&2
exit "$code"

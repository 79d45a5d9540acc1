#!/bin/sh
# The shell half of the rolltest GitHub Action (action.yml):
#
#   github-action.sh install   puts rolltest at $RUNNER_TEMP/rolltest/rolltest:
#                              the release archive of ROLLTEST_VERSION,
#                              checked against its SHA256SUMS, or, when
#                              ROLLTEST_VERSION is empty or "source", built
#                              from the action's own checkout with go build
#   github-action.sh run       runs dist/ci/run.sh with it, appends the
#                              Markdown summary to $GITHUB_STEP_SUMMARY,
#                              sets the step's outputs, and exits with
#                              rolltest's exit code
#
# Everything it reads is what GitHub sets for a composite action's step
# (GITHUB_ACTION_PATH, RUNNER_TEMP, RUNNER_OS, RUNNER_ARCH,
# GITHUB_STEP_SUMMARY, GITHUB_OUTPUT, GITHUB_WORKSPACE) and the inputs
# action.yml passes as ROLLTEST_*.
set -u

action_dir=${GITHUB_ACTION_PATH:-$(cd "$(dirname "$0")/../.." && pwd)}
install_dir=${RUNNER_TEMP:?RUNNER_TEMP is not set: run inside GitHub Actions}/rolltest
releases=${ROLLTEST_RELEASES:-https://github.com/rolltest/rolltest/releases/download}

fail() {
	echo "::error title=rolltest::$*" >&2
	exit 2
}

install_release() {
	version=$1
	case "${RUNNER_OS:-}" in
	Linux) os=linux ;;
	macOS) os=darwin ;;
	*) fail "no rolltest release for runner OS '${RUNNER_OS:-}'; use version: source" ;;
	esac
	case "${RUNNER_ARCH:-}" in
	X64) arch=amd64 ;;
	ARM64) arch=arm64 ;;
	*) fail "no rolltest release for runner architecture '${RUNNER_ARCH:-}'; use version: source" ;;
	esac
	archive="rolltest_${version}_${os}_${arch}.tar.gz"
	curl -fsSL --retry 3 -o "$install_dir/$archive" "$releases/$version/$archive" ||
		fail "cannot download $releases/$version/$archive"
	curl -fsSL --retry 3 -o "$install_dir/SHA256SUMS" "$releases/$version/SHA256SUMS" ||
		fail "cannot download $releases/$version/SHA256SUMS"
	want=$(awk -v f="$archive" '$2 == f || $2 == "*" f { print $1 }' "$install_dir/SHA256SUMS")
	if command -v sha256sum >/dev/null 2>&1; then
		got=$(sha256sum "$install_dir/$archive" | awk '{ print $1 }')
	else
		got=$(shasum -a 256 "$install_dir/$archive" | awk '{ print $1 }')
	fi
	[ -n "$want" ] || fail "$archive is not listed in the release's SHA256SUMS"
	[ "$got" = "$want" ] || fail "$archive has sha256 $got, the release's SHA256SUMS says $want"
	tar -xzf "$install_dir/$archive" -C "$install_dir" rolltest || fail "cannot unpack $archive"
}

install() {
	rm -rf "$install_dir"
	mkdir -p "$install_dir" || fail "cannot create $install_dir"
	version=${ROLLTEST_VERSION:-}
	if [ -z "$version" ] || [ "$version" = source ]; then
		(cd "$action_dir" && CGO_ENABLED=0 go build -trimpath -o "$install_dir/rolltest" ./cmd/rolltest) ||
			fail "go build ./cmd/rolltest failed in $action_dir"
	else
		install_release "$version"
	fi
	"$install_dir/rolltest" version || fail "the installed rolltest does not run"
}

run() {
	work=${ROLLTEST_WORKING_DIRECTORY:-.}
	cd "${GITHUB_WORKSPACE:-.}" && cd "$work" || fail "working-directory $work does not exist"
	dir=${ROLLTEST_REPORT_DIR:-${RUNNER_TEMP}/rolltest-report}
	errlog=${RUNNER_TEMP}/rolltest-stderr.log
	# stderr is kept to explain, in the summary, a run that ended before
	# writing any report (a usage error says why on its one line); it is
	# a file, not a pipe through tee, because sh has no pipefail to keep
	# rolltest's exit code.
	ROLLTEST_BIN="$install_dir/rolltest" ROLLTEST_REPORT_DIR="$dir" \
		sh "$action_dir/dist/ci/run.sh" 2>"$errlog"
	code=$?
	cat "$errlog" >&2
	if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
		if [ -s "$dir/summary.md" ]; then
			cat "$dir/summary.md" >>"$GITHUB_STEP_SUMMARY"
		else
			{
				echo "## ❌ rolltest: ERROR (exit $code)"
				echo
				echo '```'
				grep -v '^rolltest-ci: ' "$errlog" | tail -n 5 | sed 's/```/` ` `/g'
				echo '```'
			} >>"$GITHUB_STEP_SUMMARY"
		fi
	fi
	passed=false
	[ "$code" = 0 ] && passed=true
	if [ -n "${GITHUB_OUTPUT:-}" ]; then
		{
			echo "exit-code=$code"
			echo "passed=$passed"
			echo "report-dir=$dir"
			echo "json=$dir/result.json"
			echo "html=$dir/report.html"
			echo "junit=$dir/junit.xml"
			echo "markdown=$dir/summary.md"
		} >>"$GITHUB_OUTPUT"
	fi
	exit "$code"
}

case "${1:-}" in
install) install ;;
run) run ;;
*)
	echo "usage: $0 install|run" >&2
	exit 2
	;;
esac

#!/usr/bin/env bash
# buf lint and buf breaking for proto/ (configuration: buf.yaml at the repository root).
#
#   .ci/buf.sh                 lint, breaking check against HEAD~1, then the self-test
#   .ci/buf.sh --no-self-test  lint and breaking check only
#   .ci/buf.sh --self-test     only the self-test: proves in a scratch repository that the
#                              breaking check fails on breaking changes and passes compatible ones
#
# The breaking check compares the working tree with the commit BUF_AGAINST_REF (default HEAD~1,
# the previous commit: in CI, the clone of main has its full history). It is skipped, with a
# message, only when that commit does not exist or has no .proto files under proto/ yet.
#
# buf comes from PATH if it is there (or from $BUF), otherwise from the npm package
# @bufbuild/buf, pinned below and installed under target/tools/ (kept between local runs).
# Exits non-zero on any lint or breaking violation and on any self-test failure.
set -euo pipefail

BUF_VERSION=1.75.0
PROTO_DIR=proto

cd "$(dirname "$0")/.."
ROOT=$PWD

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'buf.sh: error: %s\n' "$*" >&2; exit 1; }
now() { echo "$EPOCHREALTIME"; }
since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2fs", b - a }'; }

# --- buf ------------------------------------------------------------------------------------
find_buf() {
  if [ -n "${BUF:-}" ]; then
    return
  fi
  if command -v buf >/dev/null 2>&1; then
    BUF=$(command -v buf)
    return
  fi
  local dir="$ROOT/target/tools/buf-$BUF_VERSION"
  BUF="$dir/node_modules/.bin/buf"
  if [ -x "$BUF" ] && [ "$("$BUF" --version 2>/dev/null)" = "$BUF_VERSION" ]; then
    return
  fi
  command -v npm >/dev/null 2>&1 || die "buf is not on PATH and npm is not installed to fetch it"
  log "installing buf $BUF_VERSION from npm (@bufbuild/buf) into ${dir#"$ROOT"/}"
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "@bufbuild/buf@$BUF_VERSION"
  [ -x "$BUF" ] || die "npm installed @bufbuild/buf but $BUF is missing"
}

# --- breaking check against an earlier commit -------------------------------------------------
# breaking_against REF: run in a git work tree whose buf.yaml is at its root. Returns 0 when
# there is nothing breaking or nothing to compare with (message on stdout), non-zero otherwise.
breaking_against() {
  local ref=$1 sha gitdir against
  if ! sha=$(git rev-parse --verify --quiet "$ref^{commit}"); then
    if [ "$(git rev-parse --is-shallow-repository)" = true ]; then
      echo "$ref is not in this shallow clone: fetch the history (git fetch --unshallow) or set BUF_AGAINST_REF" >&2
      return 1
    fi
    echo "skipping buf breaking: $ref does not exist (first commit), nothing to compare with"
    return 0
  fi
  if [ -z "$(git ls-tree -r --name-only "$sha" -- "$PROTO_DIR" | grep '\.proto$' || true)" ]; then
    echo "skipping buf breaking: $ref (${sha:0:12}) has no .proto files under $PROTO_DIR/ yet"
    return 0
  fi
  # buf's git input clones from the repository's object store; --git-common-dir is .git also
  # when this is a linked worktree (whose .git is a file). The commit is pinned by its sha.
  gitdir=$(git rev-parse --path-format=absolute --git-common-dir)
  against="$gitdir#format=git,ref=$sha"
  # A commit from before buf.yaml existed is read as a plain directory of .proto files, rooted
  # where the module is (proto/), so that file paths match the current module's.
  if ! git cat-file -e "$sha:buf.yaml" 2>/dev/null; then
    against="$against,subdir=$PROTO_DIR"
    echo "buf breaking against $ref (${sha:0:12}; no buf.yaml there: $PROTO_DIR/ read as the module)"
  else
    echo "buf breaking against $ref (${sha:0:12})"
  fi
  "$BUF" breaking --against "$against"
}

# --- self-test ------------------------------------------------------------------------------
# In a scratch repository holding this working tree's buf.yaml and proto/, make commits and
# check that breaking_against HEAD~1 behaves: skips without history, fails on a deleted field and
# on a changed field type (naming the field), passes an added field; and that lint catches a
# violation.
self_test() {
  local failures=0 out rc
  # Not in an `if` or `&&` list: that would switch off `set -e` inside the subshell below.
  SELF_TEST_DIR=$(mktemp -d "${TMPDIR:-/tmp}/buf-self-test.XXXXXX")
  trap 'rm -rf "$SELF_TEST_DIR"' EXIT
  (
    set -euo pipefail
    cd "$SELF_TEST_DIR"
    git() { command git -c user.name=buf-self-test -c user.email=buf-self-test@localhost \
      -c commit.gpgsign=false -c core.hooksPath=/dev/null "$@"; }
    git init -q -b main .
    pass() { printf '  ok    %s\n' "$1"; }
    fail() { printf '  FAIL  %s\n' "$1"; failures=$((failures + 1)); }
    # shellcheck disable=SC2001
    show() { sed 's/^/        | /' <<<"$1"; }

    # 1. No previous commit; then a previous commit without protos: both skip, successfully.
    git commit -q --allow-empty -m "empty start"
    out=$(breaking_against HEAD~1 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 0 ] && grep -q 'skipping buf breaking: HEAD~1 does not exist' <<<"$out"; then
      pass "first commit: breaking check skipped"
    else fail "first commit: expected a skip, got exit $rc"; show "$out"; fi

    # 2. Protos arrive before buf.yaml does (as in this repository's history); then buf.yaml.
    cp -R "$ROOT/$PROTO_DIR" "$PROTO_DIR"
    git add -A && git commit -q -m "protos as in the working tree, no buf.yaml yet"
    out=$(breaking_against HEAD~1 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 0 ] && grep -q 'has no .proto files' <<<"$out"; then
      pass "previous commit without protos: breaking check skipped"
    else fail "previous commit without protos: expected a skip, got exit $rc"; show "$out"; fi
    local base_without_config base
    base_without_config=$(git rev-parse HEAD)
    cp "$ROOT/buf.yaml" .
    git add -A && git commit -q -m "add buf.yaml"
    base=$(git rev-parse HEAD)
    out=$(breaking_against HEAD~1 2>&1) && rc=0 || rc=$?
    if [ "$rc" = 0 ] && grep -q 'no buf.yaml there' <<<"$out"; then
      pass "adding buf.yaml: checked against the protos before it, nothing breaking"
    else fail "adding buf.yaml: expected a pass, got exit $rc"; show "$out"; fi

    # The field to tamper with: the first `[optional|repeated] TYPE NAME = NUMBER;` of the first
    # .proto file (enum values and options do not have that shape).
    local re='^([[:space:]]+)((optional|repeated)[[:space:]]+)?([A-Za-z_][A-Za-z0-9_.]*)[[:space:]]+([a-z_][a-z0-9_]*)[[:space:]]*=[[:space:]]*([0-9]+)[[:space:]]*;'
    local file hit lineno line indent label type name number newtype
    file=$(find "$PROTO_DIR" -name '*.proto' | LC_ALL=C sort | head -n 1)
    [ -n "$file" ] || { echo "no .proto file under $PROTO_DIR/"; exit 1; }
    hit=$(grep -n -m 1 -E "$re" "$file") || { echo "no message field found in $file"; exit 1; }
    lineno=${hit%%:*}
    line=${hit#*:}
    [[ $line =~ $re ]]
    indent=${BASH_REMATCH[1]} label=${BASH_REMATCH[2]} type=${BASH_REMATCH[4]}
    name=${BASH_REMATCH[5]} number=${BASH_REMATCH[6]}
    if [ "$type" = string ]; then newtype=int64; else newtype=string; fi

    # 3. Breaking: delete the field, in the commit that adds buf.yaml (the previous commit is
    # then read as a plain directory of protos).
    git reset -q --hard "$base"
    sed -i "${lineno}d" "$file"
    git commit -q --amend -a -m "add buf.yaml and delete field $name"
    echo "  breaking change 1: $file: deleted field $number \"$name\" ($line)"
    out=$(breaking_against HEAD~1 2>&1) && rc=0 || rc=$?
    show "$out"
    if [ "$(git rev-parse HEAD~1)" = "$base_without_config" ] && [ "$rc" != 0 ] \
      && grep -q "field \"$number\" with name \"$name\" on message .* was deleted" <<<"$out"; then
      pass "deleted field: breaking check failed (exit $rc) and names the field"
    else fail "deleted field: expected a failure naming field \"$name\", got exit $rc"; fi

    # 4. Breaking: change the field's type (the previous commit has buf.yaml).
    git reset -q --hard "$base"
    sed -i -E "${lineno}s/^([[:space:]]+${label})${type}([[:space:]])/\\1${newtype}\\2/" "$file"
    git diff --quiet && { echo "could not change the type of $name in $file"; exit 1; }
    git commit -q -am "change type of $name"
    echo "  breaking change 2: $file: field \"$name\" changed type from $type to $newtype"
    out=$(breaking_against HEAD~1 2>&1) && rc=0 || rc=$?
    show "$out"
    if [ "$rc" != 0 ] && grep -q "with name \"$name\" on message .* changed type from" <<<"$out"; then
      pass "changed field type: breaking check failed (exit $rc) and names the field"
    else fail "changed field type: expected a failure naming field \"$name\", got exit $rc"; fi

    # 5. Compatible: add a field (number 536870911, the highest allowed, to stay clear of the
    # message's own numbers) next to that field, in the same message.
    git reset -q --hard "$base"
    sed -i "${lineno}a\\
${indent}string buf_self_test_added = 536870911;" "$file"
    git commit -q -am "add a field"
    echo "  compatible change: $file: added field \"buf_self_test_added\" next to \"$name\""
    out=$(breaking_against HEAD~1 2>&1) && rc=0 || rc=$?
    show "$out"
    if [ "$rc" = 0 ] && grep -q '^buf breaking against HEAD~1' <<<"$out"; then
      pass "added field: breaking check ran and passed"
    else fail "added field: expected a pass, got exit $rc"; fi

    # 6. Lint: a message name that is not PascalCase.
    git reset -q --hard "$base"
    printf '\n// Violates MESSAGE_PASCAL_CASE.\nmessage buf_self_test_lower {}\n' >>"$file"
    out=$("$BUF" lint 2>&1) && rc=0 || rc=$?
    show "$out"
    if [ "$rc" != 0 ] && grep -q 'buf_self_test_lower' <<<"$out"; then
      pass "lint violation: buf lint failed (exit $rc) and names it"
    else fail "lint violation: expected buf lint to fail, got exit $rc"; fi

    [ "$failures" = 0 ] || { echo "self-test: $failures check(s) failed"; exit 1; }
    echo "self-test: all checks passed"
  )
  rm -rf "$SELF_TEST_DIR"
}

# --- main -----------------------------------------------------------------------------------
mode=all
case "${1:-}" in
  "") ;;
  --self-test) mode=self-test ;;
  --no-self-test) mode=check ;;
  -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die "unknown argument: $1 (see --help)" ;;
esac

t=$(now)
find_buf
echo "buf $("$BUF" --version) ($BUF), ready in $(since "$t")"

if [ "$mode" != self-test ]; then
  log "buf lint"
  t=$(now)
  "$BUF" lint
  echo "buf lint: clean ($(since "$t"))"

  log "buf breaking"
  t=$(now)
  breaking_against "${BUF_AGAINST_REF:-HEAD~1}"
  echo "buf breaking: no breaking change ($(since "$t"))"
fi

if [ "$mode" != check ]; then
  log "buf breaking self-test"
  t=$(now)
  self_test
  echo "self-test took $(since "$t")"
fi

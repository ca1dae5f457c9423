#!/usr/bin/env bash
# Installs authd: the release binary, its man pages and its shell completions,
# under a prefix (default /usr/local). Run it again to upgrade; --uninstall
# removes exactly what it installs.
#
#   ./install.sh [--prefix DIR] [--binary PATH] [--uninstall]
#
#   --prefix DIR    install under DIR (bin/, share/man/man1/, share/.../completions)
#   --binary PATH   install this authd binary instead of building one
#   --uninstall     remove the files installed under the prefix
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
prefix="/usr/local"
binary=""
uninstall=false

usage() { sed -n '2,12s/^# \{0,1\}//p' "$0"; }
fail() { echo "install.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || fail "--prefix needs a folder"; prefix="$2"; shift 2 ;;
    --binary) [ $# -ge 2 ] || fail "--binary needs a path"; binary="$2"; shift 2 ;;
    --uninstall) uninstall=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) fail "unknown option $1 (see --help)" ;;
  esac
done

bin_dir="$prefix/bin"
man_dir="$prefix/share/man/man1"
bash_dir="$prefix/share/bash-completion/completions"
zsh_dir="$prefix/share/zsh/site-functions"
fish_dir="$prefix/share/fish/vendor_completions.d"

if [ "$uninstall" = true ]; then
  removed=0
  for file in "$bin_dir/authd" "$bash_dir/authd" "$zsh_dir/_authd" "$fish_dir/authd.fish" "$man_dir"/authd.1 "$man_dir"/authd-*.1; do
    if [ -e "$file" ]; then rm -f "$file"; removed=$((removed + 1)); fi
  done
  echo "Removed $removed file(s) of authd from $prefix."
  exit 0
fi

if [ -z "$binary" ]; then
  command -v cargo >/dev/null || fail "cargo is needed to build authd (or pass --binary PATH)"
  echo "Building the release binary..."
  (cd "$here" && cargo build --release --locked --quiet)
  binary="${CARGO_TARGET_DIR:-$here/target}/release/authd"
fi
[ -x "$binary" ] || fail "no executable authd at $binary"

install -d "$bin_dir" "$man_dir" "$bash_dir" "$zsh_dir" "$fish_dir"
install -m 0755 "$binary" "$bin_dir/authd"
install -m 0644 "$here"/man/*.1 "$man_dir/"
install -m 0644 "$here/completions/authd.bash" "$bash_dir/authd"
install -m 0644 "$here/completions/_authd" "$zsh_dir/_authd"
install -m 0644 "$here/completions/authd.fish" "$fish_dir/authd.fish"

echo "Installed authd $("$bin_dir/authd" --version | cut -d' ' -f2) under $prefix:"
echo "  $bin_dir/authd"
echo "  $man_dir/authd.1 and one page per subcommand (man authd-user-create, ...)"
echo "  completions for bash, zsh and fish"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "Note: $bin_dir is not on your PATH." ;;
esac

#!/bin/bash
# Sourced by run-helper.sh and config.sh (which set $DIR, the runner root). Defines run_listener,
# which runs lib/listener.mjs as a process named Runner.Listener, the way the real scripts run
# bin/Runner.Listener: bin/Runner.Listener is made a symlink to node, so the kernel shows the
# listener as Runner.Listener in /proc/<pid>/comm. Node comes from $LAUNCHPLANE_STUB_NODE or PATH.

# Prints the path of a Runner.Listener symlink to node, made in $DIR/bin or, where that cannot be
# written, in a private directory under $TMPDIR (or /tmp). Prints nothing if neither works.
listener_link() {
  local node=$1 dir link
  for dir in "$DIR/bin" "${TMPDIR:-/tmp}/launchplane-stub-runner-$EUID"; do
    if [[ $dir != "$DIR/bin" ]]; then
      # A shared /tmp: use the directory only if it is ours and not a link someone planted.
      mkdir -m 700 "$dir" 2>/dev/null
      [[ -d $dir && ! -L $dir && -O $dir ]] || continue
    else
      mkdir -p "$dir" 2>/dev/null
    fi
    link=$dir/Runner.Listener
    if [[ -L $link && $(readlink "$link") == "$node" ]] || ln -sfn "$node" "$link" 2>/dev/null; then
      printf '%s\n' "$link"
      return 0
    fi
  done
  return 1
}

run_listener() {
  local node=${LAUNCHPLANE_STUB_NODE:-$(command -v node)} link
  if [[ -z $node ]]; then
    echo "Runner.Listener: node not found; put it on PATH or set LAUNCHPLANE_STUB_NODE" >&2
    return 127
  fi
  if link=$(listener_link "$node"); then
    "$link" "$DIR/lib/listener.mjs" "$@"
  else
    # No writable place for the link: the name shows in the command line only.
    (exec -a Runner.Listener "$node" "$DIR/lib/listener.mjs" "$@")
  fi
}

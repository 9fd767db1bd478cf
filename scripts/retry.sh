# Sourced by the install steps: `retry N CMD...` runs CMD up to N times, waiting 20 s, 40 s, ... between
# tries. The package registries are reached through a proxy that sometimes stalls a large download
# mid-way (CI once failed on the 519 MB cuDNN wheel that torch pulls in, after six resumes of one
# connection); a later, fresh try goes through, and pip's cache keeps the wheels already complete.
retry() {
  local tries=$1 n=1
  shift
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      echo "gave up after $tries tries: $*" >&2
      return 1
    fi
    echo "try $n of $tries failed: $*; again in $((n * 20)) s" >&2
    sleep $((n * 20))
    n=$((n + 1))
  done
}
